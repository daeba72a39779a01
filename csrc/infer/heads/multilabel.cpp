// Head kind "multilabel": (B, C) probabilities, one per vocab entry.
#include "fastkp/infer/heads/multilabel.h"

#include "../fields.h"
#include "../json.h"
#include "fastkp/infer/error.h"

namespace fastkp::infer {

std::shared_ptr<const HeadDecoder> parse_multilabel_head(const Fields& entry) {
  std::vector<std::string> vocab = entry.texts(entry.get("vocab", json::Value::Type::Array), "vocab");
  if (vocab.empty()) entry.fail("vocab", "is empty");
  return std::make_shared<MultilabelDecoder>(std::move(vocab), entry.number("threshold"));
}

MultilabelDecoder::MultilabelDecoder(std::vector<std::string> vocab, double threshold)
    : vocab_(std::move(vocab)), threshold_(threshold) {}

std::vector<std::string> MultilabelDecoder::labels(std::span<const float> probabilities) const {
  std::vector<std::string> out;
  for (size_t k = 0; k < probabilities.size() && k < vocab_.size(); ++k)
    if (probabilities[k] > threshold_) out.push_back(vocab_[k]);
  return out;
}

std::vector<int64_t> MultilabelDecoder::row_shape() const { return {static_cast<int64_t>(vocab_.size())}; }

std::vector<JsonField> MultilabelDecoder::json_fields(std::span<const float> row) const {
  std::string labels_json = "[", probabilities_json = "{";
  std::vector<std::string> predicted = labels(row);
  for (size_t k = 0; k < predicted.size(); ++k) labels_json += (k ? ", " : "") + json::quote(predicted[k]);
  for (size_t k = 0; k < row.size() && k < vocab_.size(); ++k)
    probabilities_json += (k ? ", " : "") + json::quote(vocab_[k]) + ": " + json::number(row[k]);
  return {{"labels", labels_json + "]"}, {"probabilities", probabilities_json + "}"}};
}

namespace {

const MultilabelDecoder& decoder_of(const HeadOutput& head) {
  auto* decoder = dynamic_cast<const MultilabelDecoder*>(head.decoder.get());
  if (decoder == nullptr) throw Error("head '" + head.name + "' has no multilabel decoder");
  return *decoder;
}

}  // namespace

std::vector<std::string> labels(const Prediction& prediction, const std::string& head) {
  const HeadOutput& out = prediction.find("multilabel", head);
  return decoder_of(out).labels(out.values);
}

std::vector<float> probabilities(const Prediction& prediction, const std::string& head) {
  return prediction.find("multilabel", head).values;
}

}  // namespace fastkp::infer
