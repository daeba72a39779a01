// Reading the members of one JSON object of fastkp.json (the record or one head's entry).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "json.h"

namespace fastkp::infer {

// A record this build cannot read although it may well be intact (a newer version,
// an unknown head kind): read_metadata reports it without calling the file damaged.
class Unsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws std::runtime_error "<context>field 'key' ..." (read_metadata adds the path).
class Fields {
 public:
  explicit Fields(const json::Value& object, std::string context = "");

  const json::Value& object() const { return object_; }
  const std::string& context() const { return context_; }

  const json::Value& get(const char* key, json::Value::Type type) const;
  // The member, or nullptr when it is absent or null.
  const json::Value* optional(const char* key, json::Value::Type type) const;
  std::string text(const char* key) const;
  double number(const char* key) const;
  int64_t positive_int(const char* key) const;
  std::vector<double> numbers(const char* key, size_t n) const;  // exactly n of them
  std::vector<std::string> texts(const json::Value& array, const char* key) const;

  [[noreturn]] void fail(const char* key, const std::string& what) const;
  int64_t positive_int(const json::Value& v, const char* key) const;

 private:
  const json::Value& object_;
  std::string context_;
};

}  // namespace fastkp::infer
