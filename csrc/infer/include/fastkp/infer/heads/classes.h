// Head kind "classes": one of C classes per image.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fastkp/infer/head_decoder.h"
#include "fastkp/infer/prediction.h"

namespace fastkp::infer {

// Output float32 (B, C): one probability per vocab entry (a softmax). JSON:
// "label": the most probable class, "probability": its p, "top5": [[class, p], ...] (the
// min(5, C) most probable, highest first).
// fastkp.json entry: "vocab": [C >= 2 distinct strings].
class ClassesDecoder : public HeadDecoder {
 public:
  explicit ClassesDecoder(std::vector<std::string> vocab);

  const std::vector<std::string>& vocab() const { return vocab_; }
  // Indices of the min(5, C) highest probabilities, highest first; ties by the lower
  // index, NaN last (numpy's argsort(-p, kind="stable")).
  std::vector<size_t> top5(std::span<const float> probabilities) const;

  std::vector<int64_t> row_shape() const override;
  std::vector<JsonField> json_fields(std::span<const float> row) const override;

 private:
  std::vector<std::string> vocab_;
};

// The most probable class of the classes head named `head` (empty: the first classes head).
std::string label(const Prediction& prediction, const std::string& head = "");
// Its probability.
float probability(const Prediction& prediction, const std::string& head = "");
// The min(5, C) most probable classes with their probabilities, highest first.
std::vector<std::pair<std::string, float>> top5(const Prediction& prediction, const std::string& head = "");

}  // namespace fastkp::infer
