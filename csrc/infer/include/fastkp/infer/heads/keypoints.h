// Head kind "keypoints": K points per image.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fastkp/infer/head_decoder.h"
#include "fastkp/infer/prediction.h"

namespace fastkp::infer {

// Output float32 (B, K, 2): (x, y) in pixels of the input image, origin at its
// top-left corner; (B, K, 3) with each point's score in [0, 1] after them for a
// heatmap head. JSON: "keypoints": [[x, y], ...], "score": [...] (heads with scores),
// then "names": [...] when the entry names the points. A NaN coordinate prints null.
// fastkp.json entry: "n_keypoints": K, "y_range": [lo, hi], optional "names": [K strings] or null,
// optional "scores": true (older files: no scores).
class KeypointsDecoder : public HeadDecoder {
 public:
  KeypointsDecoder(int64_t n_keypoints, std::pair<double, double> y_range,
                   std::optional<std::vector<std::string>> names, bool scores = false);

  int64_t n_keypoints() const { return n_keypoints_; }
  std::pair<double, double> y_range() const { return y_range_; }  // range of the normalised network output
  const std::optional<std::vector<std::string>>& names() const { return names_; }  // one per point
  bool scores() const { return scores_; }  // a score follows each point's (x, y)

  std::vector<int64_t> row_shape() const override;
  std::vector<JsonField> json_fields(std::span<const float> row) const override;

 private:
  int64_t n_keypoints_;
  std::pair<double, double> y_range_;
  std::optional<std::vector<std::string>> names_;
  bool scores_;
};

// The points of the keypoints head named `head` (empty: the first keypoints head).
std::vector<std::array<float, 2>> keypoints(const Prediction& prediction, const std::string& head = "");

// Their scores (empty for a head without scores).
std::vector<float> keypoint_scores(const Prediction& prediction, const std::string& head = "");

// Whether some head of the model gives scores per point.
bool has_keypoint_scores(const Metadata& metadata);

// Every keypoints head's points scored below `min_score` set to NaN (printed null), as
// DeepLabCut users drop points below pcutoff; heads without scores are left as they are.
void blank_below(Prediction& prediction, float min_score);

}  // namespace fastkp::infer
