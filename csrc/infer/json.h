// A small JSON reader for fastkp.json and the writing helpers of the output lines.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fastkp::infer::json {

struct Value {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0.0;
  std::string string;
  std::vector<Value> items;  // array elements, or object values
  std::vector<std::string> keys;  // object keys, parallel to items

  // Object member or nullptr.
  const Value* find(std::string_view key) const;
};

// Parses one JSON document of UTF-8 text; std::runtime_error names the byte offset of a
// syntax error or of invalid UTF-8 (lone surrogates included).
Value parse(std::string_view text);

// `text` as a JSON string literal (quotes included); bytes >= 0x80 pass through.
std::string quote(std::string_view text);

// Shortest decimal that reads back as `value` (std::to_chars); NaN/inf as null.
std::string number(float value);

}  // namespace fastkp::infer::json
