// Squashing a large image to the network input in uint8, before the model sees it.
#pragma once

#include <cstdint>

#include "fastkp/infer/image.h"

namespace fastkp::infer {

// Above this many pixels Model::predict resizes an image to the network input first: the
// model's own resize starts from a float32 copy of the whole image, 12 bytes a pixel (2 GB
// at peak for 10000 x 10000). Below it the model sees the image as decoded.
inline constexpr int64_t kResizeFirstPixels = int64_t{1} << 24;

// `image` squashed to height x width as the exported model's F.interpolate(mode="bilinear",
// align_corners=False, antialias=False) computes it in float32, rounded to uint8: the model's
// resize of the result is then the identity, and its answers differ from those for the whole
// image by that rounding only (at most half a grey level a sample).
Image resized(const Image& image, int64_t height, int64_t width);

}  // namespace fastkp::infer
