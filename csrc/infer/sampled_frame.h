// A large image brought near the network input in uint8, before the model sees it: the
// rows and columns the model's resize reads, where it reads them in a smaller frame
// (python/fastkp/pipeline/shrink.py, which fastkp.predict uses, explains the frame).
#pragma once

#include <cstdint>

#include "fastkp/infer/image.h"

namespace fastkp::infer {

// Above this many pixels Model::predict gives the model the sampled frame (shrink.LARGE):
// the model's own resize starts from a float32 copy of the whole image, 12 bytes a pixel
// (1.4 GB more at peak for 10000 x 10000).
inline constexpr int64_t kSampleAbovePixels = int64_t{1} << 22;

// (H', W') uint8 RGB, each between 2 and 4 times height x width (or the image's own where
// smaller), zero but where the exported model's F.interpolate(bilinear, align_corners=False,
// antialias=False) to height x width reads: there it holds the image's rows and columns that
// the resize of the whole image reads, at the same weights, so the model answers as for the
// whole image (float rounding aside). Points in its pixels scale to the image's by W / W', H / H'.
Image sampled_frame(const Image& image, int64_t height, int64_t width);

}  // namespace fastkp::infer
