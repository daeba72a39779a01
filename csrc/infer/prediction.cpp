#include "fastkp/infer/prediction.h"

#include "json.h"

namespace fastkp::infer {

std::string to_json(const std::string& image_path, const Image& image, const Prediction& prediction,
                    const Metadata& metadata) {
  std::string s = "{\"image\": " + json::quote(image_path) + ", \"height\": " + std::to_string(image.height) +
                  ", \"width\": " + std::to_string(image.width);
  if (metadata.keypoints()) {
    s += ", \"keypoints\": [";
    for (size_t k = 0; k < prediction.keypoints.size(); ++k) {
      const auto& [x, y] = prediction.keypoints[k];
      s += (k ? ", [" : "[") + json::number(x) + ", " + json::number(y) + "]";
    }
    return s + "]}";
  }
  s += ", \"labels\": [";
  for (size_t k = 0; k < prediction.labels.size(); ++k) s += (k ? ", " : "") + json::quote(prediction.labels[k]);
  s += "], \"probabilities\": {";
  for (size_t k = 0; k < prediction.probabilities.size() && k < metadata.vocab.size(); ++k)
    s += (k ? ", " : "") + json::quote(metadata.vocab[k]) + ": " + json::number(prediction.probabilities[k]);
  return s + "}}";
}

}  // namespace fastkp::infer
