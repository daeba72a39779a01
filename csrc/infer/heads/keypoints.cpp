// Head kind "keypoints": (B, K, 2) points in pixels of the input image.
#include "fastkp/infer/heads/keypoints.h"

#include <limits>

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
  bool scores = false;
  if (const json::Value* v = entry.optional("scores", json::Value::Type::Bool)) scores = v->boolean;
  return std::make_shared<KeypointsDecoder>(n, std::make_pair(y[0], y[1]), std::move(names), scores);
}

KeypointsDecoder::KeypointsDecoder(int64_t n_keypoints, std::pair<double, double> y_range,
                                   std::optional<std::vector<std::string>> names, bool scores)
    : n_keypoints_(n_keypoints), y_range_(y_range), names_(std::move(names)), scores_(scores) {}

std::vector<int64_t> KeypointsDecoder::row_shape() const { return {n_keypoints_, scores_ ? 3 : 2}; }

std::vector<JsonField> KeypointsDecoder::json_fields(std::span<const float> row) const {
  const size_t step = scores_ ? 3 : 2;
  std::string s = "[", score = "[";
  for (size_t k = 0; step * k + 1 < row.size(); ++k) {
    s += (k ? ", [" : "[") + json::number(row[step * k]) + ", " + json::number(row[step * k + 1]) + "]";
    if (scores_) score += (k ? ", " : "") + json::number(row[step * k + 2]);
  }
  std::vector<JsonField> fields = {{"keypoints", s + "]"}};
  if (scores_) fields.push_back({"score", score + "]"});
  if (names_) {
    std::string names = "[";
    for (size_t k = 0; k < names_->size(); ++k) names += (k ? ", " : "") + json::quote((*names_)[k]);
    fields.push_back({"names", names + "]"});
  }
  return fields;
}

namespace {
size_t step_of(const HeadOutput& out) { return out.shape.empty() ? 2 : static_cast<size_t>(out.shape.back()); }
}  // namespace

std::vector<std::array<float, 2>> keypoints(const Prediction& prediction, const std::string& head) {
  const HeadOutput& out = prediction.find("keypoints", head);
  const size_t step = step_of(out);
  std::vector<std::array<float, 2>> points;
  for (size_t k = 0; step * k + 1 < out.values.size(); ++k) points.push_back({out.values[step * k], out.values[step * k + 1]});
  return points;
}

std::vector<float> keypoint_scores(const Prediction& prediction, const std::string& head) {
  const HeadOutput& out = prediction.find("keypoints", head);
  std::vector<float> scores;
  if (step_of(out) != 3) return scores;
  for (size_t k = 0; 3 * k + 2 < out.values.size(); ++k) scores.push_back(out.values[3 * k + 2]);
  return scores;
}

bool has_keypoint_scores(const Metadata& metadata) {
  for (const auto& head : metadata.heads) {
    auto* decoder = dynamic_cast<const KeypointsDecoder*>(head.decoder.get());
    if (decoder && decoder->scores()) return true;
  }
  return false;
}

void blank_below(Prediction& prediction, float min_score) {
  for (HeadOutput& out : prediction.heads) {
    if (out.kind != "keypoints" || step_of(out) != 3) continue;
    for (size_t k = 0; 3 * k + 2 < out.values.size(); ++k) {
      if (out.values[3 * k + 2] < min_score) {
        out.values[3 * k] = std::numeric_limits<float>::quiet_NaN();
        out.values[3 * k + 1] = std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
}

}  // namespace fastkp::infer
