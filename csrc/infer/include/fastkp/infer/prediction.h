#pragma once

#include <array>
#include <string>
#include <vector>

#include "fastkp/infer/image.h"
#include "fastkp/infer/metadata.h"

namespace fastkp::infer {

// The answer for one image: keypoints for keypoint models, probabilities and
// labels for classifiers.
struct Prediction {
  std::vector<std::array<float, 2>> keypoints;  // (x, y) in pixels, origin at the image's top-left corner
  std::vector<float> probabilities;  // one per Metadata::vocab entry
  std::vector<std::string> labels;  // vocab entries whose probability is above the threshold
};

// One JSON line (no newline), the format `python -m fastkp.predict` prints:
//   {"image": P, "height": H, "width": W, "keypoints": [[x, y], ...]}
//   {"image": P, "height": H, "width": W, "labels": [...], "probabilities": {"label": p, ...}}
// Numbers are the shortest decimal forms of the float32 values.
std::string to_json(const std::string& image_path, const Image& image, const Prediction& prediction,
                    const Metadata& metadata);

}  // namespace fastkp::infer
