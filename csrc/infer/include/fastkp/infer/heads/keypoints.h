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
// top-left corner. JSON: "keypoints": [[x, y], ...], then "names": [...] when the
// entry names the points.
// fastkp.json entry: "n_keypoints": K, "y_range": [lo, hi], optional "names": [K strings] or null.
class KeypointsDecoder : public HeadDecoder {
 public:
  KeypointsDecoder(int64_t n_keypoints, std::pair<double, double> y_range,
                   std::optional<std::vector<std::string>> names);

  int64_t n_keypoints() const { return n_keypoints_; }
  std::pair<double, double> y_range() const { return y_range_; }  // range of the normalised network output
  const std::optional<std::vector<std::string>>& names() const { return names_; }  // one per point

  std::vector<int64_t> row_shape() const override;
  std::vector<JsonField> json_fields(std::span<const float> row) const override;

 private:
  int64_t n_keypoints_;
  std::pair<double, double> y_range_;
  std::optional<std::vector<std::string>> names_;
};

// The points of the keypoints head named `head` (empty: the first keypoints head).
std::vector<std::array<float, 2>> keypoints(const Prediction& prediction, const std::string& head = "");

}  // namespace fastkp::infer
