#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fastkp/infer/head_decoder.h"
#include "fastkp/infer/image.h"
#include "fastkp/infer/metadata.h"

namespace fastkp::infer {

// One head's output for one image.
struct HeadOutput {
  std::string name;  // as in Metadata::heads
  std::string kind;
  std::vector<int64_t> shape;  // the decoder's row_shape(), e.g. {K, 2} or {C}
  std::vector<float> values;  // row-major
  std::shared_ptr<const HeadDecoder> decoder;
};

// A box of an image, in its pixels: x0, y0, x1, y1.
using Box = std::array<float, 4>;

// Finite, with x1 > x0 and y1 > y0.
bool valid_box(const Box& box);

// The answer for one image (or one box of it): one output per head, in Metadata::heads
// order. Typed access by kind: fastkp/infer/heads/<kind>.h (e.g. keypoints(prediction)).
struct Prediction {
  std::vector<HeadOutput> heads;
  std::optional<Box> box;  // the box the model cropped (models with Metadata::box_crop)

  // The head named `name`, which must be of kind `kind`, or when `name` is empty the
  // first head of that kind; Error when there is none.
  const HeadOutput& find(const std::string& kind, const std::string& name = "") const;
};

// One JSON line (no newline), the format `python -m fastkp.predict` prints:
//   {"image": P, "height": H, "width": W, ["box": [x0, y0, x1, y1],] <fields of head 0>, ...}
// e.g. "keypoints": [[x, y], ...] or "labels": [...], "probabilities": {"label": p, ...}.
// A key that two heads both write is written as "<head name>_<key>" for each of them.
// Numbers are the shortest decimal forms of the float32 values.
std::string to_json(const std::string& image_path, const Image& image, const Prediction& prediction,
                    const Metadata& metadata);

}  // namespace fastkp::infer
