// Head kind "binary": one of two labels per image (a gender).
#pragma once

#include <array>
#include <span>
#include <string>
#include <vector>

#include "fastkp/infer/head_decoder.h"
#include "fastkp/infer/prediction.h"

namespace fastkp::infer {

// Output float32 (B,): the probability p of the second label. JSON:
// "<head name>": (p > threshold ? second label : first label), "probabilities": {"<second label>": p}.
// fastkp.json entry: "labels": [2 different strings], optional "threshold": number (default 0.5).
class BinaryDecoder : public HeadDecoder {
 public:
  BinaryDecoder(std::string name, std::array<std::string, 2> labels, double threshold);

  const std::array<std::string, 2>& labels() const { return labels_; }
  double threshold() const { return threshold_; }  // the second label is chosen when p is above it
  const std::string& label(float probability) const;

  std::vector<int64_t> row_shape() const override;
  std::vector<JsonField> json_fields(std::span<const float> row) const override;

 private:
  std::string name_;  // the head's: the JSON key of the label
  std::array<std::string, 2> labels_;
  double threshold_;
};

// The answer of the binary head named `head` (empty: the first binary head).
struct BinaryAnswer {
  std::string label;  // the one chosen
  float probability;  // of the second label, labels()[1], as in the JSON line
};
BinaryAnswer binary(const Prediction& prediction, const std::string& head = "");

}  // namespace fastkp::infer
