// Head kind "binary": (B,) probabilities of the second of two labels.
#include "fastkp/infer/heads/binary.h"

#include "../fields.h"
#include "../json.h"
#include "fastkp/infer/error.h"

namespace fastkp::infer {

std::shared_ptr<const HeadDecoder> parse_binary_head(const Fields& entry) {
  std::vector<std::string> labels = entry.texts(entry.get("labels", json::Value::Type::Array), "labels");
  if (labels.size() != 2 || labels[0] == labels[1]) entry.fail("labels", "is not two different labels");
  const json::Value* threshold = entry.optional("threshold", json::Value::Type::Number);
  return std::make_shared<BinaryDecoder>(entry.text("name"), std::array{labels[0], labels[1]},
                                         threshold ? threshold->number : 0.5);
}

BinaryDecoder::BinaryDecoder(std::string name, std::array<std::string, 2> labels, double threshold)
    : name_(std::move(name)), labels_(std::move(labels)), threshold_(threshold) {}

const std::string& BinaryDecoder::label(float probability) const { return labels_[probability > threshold_ ? 1 : 0]; }

std::vector<int64_t> BinaryDecoder::row_shape() const { return {}; }

std::vector<JsonField> BinaryDecoder::json_fields(std::span<const float> row) const {
  return {{name_, json::quote(label(row[0]))},
          {"probabilities", "{" + json::quote(labels_[1]) + ": " + json::number(row[0]) + "}"}};
}

BinaryAnswer binary(const Prediction& prediction, const std::string& head) {
  const HeadOutput& out = prediction.find("binary", head);
  auto* decoder = dynamic_cast<const BinaryDecoder*>(out.decoder.get());
  if (decoder == nullptr) throw Error("head '" + out.name + "' has no binary decoder");
  float p = out.values.at(0);
  return {decoder->label(p), p};
}

}  // namespace fastkp::infer
