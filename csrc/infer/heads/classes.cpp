// Head kind "classes": (B, C) class probabilities.
#include "fastkp/infer/heads/classes.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "../fields.h"
#include "../json.h"
#include "fastkp/infer/error.h"

namespace fastkp::infer {

std::shared_ptr<const HeadDecoder> parse_classes_head(const Fields& entry) {
  std::vector<std::string> vocab = entry.texts(entry.get("vocab", json::Value::Type::Array), "vocab");
  if (vocab.size() < 2) entry.fail("vocab", "has fewer than 2 classes");
  if (std::set(vocab.begin(), vocab.end()).size() != vocab.size()) entry.fail("vocab", "repeats a class");
  return std::make_shared<ClassesDecoder>(std::move(vocab));
}

ClassesDecoder::ClassesDecoder(std::vector<std::string> vocab) : vocab_(std::move(vocab)) {}

std::vector<size_t> ClassesDecoder::top5(std::span<const float> probabilities) const {
  std::vector<size_t> order(std::min(probabilities.size(), vocab_.size()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return !std::isnan(probabilities[a]) && (std::isnan(probabilities[b]) || probabilities[a] > probabilities[b]);
  });
  order.resize(std::min<size_t>(order.size(), 5));
  return order;
}

std::vector<int64_t> ClassesDecoder::row_shape() const { return {static_cast<int64_t>(vocab_.size())}; }

std::vector<JsonField> ClassesDecoder::json_fields(std::span<const float> row) const {
  std::vector<size_t> top = top5(row);
  std::string list = "[";
  for (size_t k = 0; k < top.size(); ++k)
    list += (k ? ", [" : "[") + json::quote(vocab_[top[k]]) + ", " + json::number(row[top[k]]) + "]";
  return {{"label", json::quote(vocab_[top[0]])}, {"probability", json::number(row[top[0]])}, {"top5", list + "]"}};
}

std::vector<std::pair<std::string, float>> top5(const Prediction& prediction, const std::string& head) {
  const HeadOutput& out = prediction.find("classes", head);
  auto* decoder = dynamic_cast<const ClassesDecoder*>(out.decoder.get());
  if (decoder == nullptr) throw Error("head '" + out.name + "' has no classes decoder");
  std::vector<std::pair<std::string, float>> top;
  for (size_t k : decoder->top5(out.values)) top.emplace_back(decoder->vocab()[k], out.values[k]);
  return top;
}

std::string label(const Prediction& prediction, const std::string& head) { return top5(prediction, head).at(0).first; }

float probability(const Prediction& prediction, const std::string& head) {
  return top5(prediction, head).at(0).second;
}

}  // namespace fastkp::infer
