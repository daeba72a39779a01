#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fastkp::infer {

// One field of an image's JSON line: the key and the value as JSON text.
struct JsonField {
  std::string key;
  std::string value;
};

// What a model's output means: one decoder per head kind ("keypoints", "multilabel",
// ...; fastkp/infer/heads/<kind>.h), made by read_metadata from the head's entry in
// fastkp.json. Decoders hold no state besides that entry and are shared read-only.
class HeadDecoder {
 public:
  virtual ~HeadDecoder() = default;

  // The shape of one image's output (the batch dimension left out): the model's
  // output for this head must be (B, row_shape()...).
  virtual std::vector<int64_t> row_shape() const = 0;

  // One image's output (row_shape() values, row-major) as the fields of its JSON
  // line, in order.
  virtual std::vector<JsonField> json_fields(std::span<const float> row) const = 0;
};

}  // namespace fastkp::infer
