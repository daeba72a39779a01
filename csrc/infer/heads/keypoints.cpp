// Head kind "keypoints": (B, K, 2) points in pixels of the input image.
#include "fastkp/infer/heads/keypoints.h"

#include "../fields.h"
#include "../json.h"

namespace fastkp::infer {

std::shared_ptr<const HeadDecoder> parse_keypoints_head(const Fields& entry) {
  int64_t n = entry.positive_int("n_keypoints");
  std::vector<double> y = entry.numbers("y_range", 2);
  std::optional<std::vector<std::string>> names;
  if (const json::Value* v = entry.optional("names", json::Value::Type::Array)) {
    names = entry.texts(*v, "names");
    if (static_cast<int64_t>(names->size()) != n)
      entry.fail("names", "has " + std::to_string(names->size()) + " entries for " + std::to_string(n) + " keypoints");
  }
  return std::make_shared<KeypointsDecoder>(n, std::make_pair(y[0], y[1]), std::move(names));
}

KeypointsDecoder::KeypointsDecoder(int64_t n_keypoints, std::pair<double, double> y_range,
                                   std::optional<std::vector<std::string>> names)
    : n_keypoints_(n_keypoints), y_range_(y_range), names_(std::move(names)) {}

std::vector<int64_t> KeypointsDecoder::row_shape() const { return {n_keypoints_, 2}; }

std::vector<JsonField> KeypointsDecoder::json_fields(std::span<const float> row) const {
  std::string s = "[";
  for (size_t k = 0; 2 * k + 1 < row.size(); ++k)
    s += (k ? ", [" : "[") + json::number(row[2 * k]) + ", " + json::number(row[2 * k + 1]) + "]";
  std::vector<JsonField> fields = {{"keypoints", s + "]"}};
  if (names_) {
    std::string names = "[";
    for (size_t k = 0; k < names_->size(); ++k) names += (k ? ", " : "") + json::quote((*names_)[k]);
    fields.push_back({"names", names + "]"});
  }
  return fields;
}

std::vector<std::array<float, 2>> keypoints(const Prediction& prediction, const std::string& head) {
  const std::vector<float>& v = prediction.find("keypoints", head).values;
  std::vector<std::array<float, 2>> points;
  for (size_t k = 0; 2 * k + 1 < v.size(); ++k) points.push_back({v[2 * k], v[2 * k + 1]});
  return points;
}

}  // namespace fastkp::infer
