// Head kind "multilabel": an independent probability per label.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "fastkp/infer/head_decoder.h"
#include "fastkp/infer/prediction.h"

namespace fastkp::infer {

// Output float32 (B, C): one probability per vocab entry. JSON:
// "labels": [entries above the threshold, in vocab order], "probabilities": {"label": p, ...}.
// fastkp.json entry: "vocab": [C strings], "threshold": number.
class MultilabelDecoder : public HeadDecoder {
 public:
  MultilabelDecoder(std::vector<std::string> vocab, double threshold);

  const std::vector<std::string>& vocab() const { return vocab_; }
  double threshold() const { return threshold_; }  // a label is predicted when its probability is above it
  std::vector<std::string> labels(std::span<const float> probabilities) const;

  std::vector<int64_t> row_shape() const override;
  std::vector<JsonField> json_fields(std::span<const float> row) const override;

 private:
  std::vector<std::string> vocab_;
  double threshold_;
};

// The predicted labels of the multilabel head named `head` (empty: the first multilabel head).
std::vector<std::string> labels(const Prediction& prediction, const std::string& head = "");
// Its probabilities, one per vocab entry.
std::vector<float> probabilities(const Prediction& prediction, const std::string& head = "");

}  // namespace fastkp::infer
