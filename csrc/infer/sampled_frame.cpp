#include "sampled_frame.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace fastkp::infer {
namespace {

// The two source indices per output index, as ATen's area_pixel_compute_source_index in
// float32 (align_corners false): first all first indices, then all second ones.
std::vector<int64_t> source_indices(int64_t in, int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  std::vector<int64_t> idx(2 * out);
  for (int64_t o = 0; o < out; ++o) {
    const float real = std::max(scale * (static_cast<float>(o) + 0.5f) - 0.5f, 0.0f);
    idx[o] = static_cast<int64_t>(real);
    idx[out + o] = std::min(idx[o] + 1, in - 1);
  }
  return idx;
}

// One axis: the frame's length, the image's indices read and where they go in the frame.
// A frame of n - m * out (m even) is read at s_i - m * i - m / 2: the same fractions.
struct Axis {
  int64_t length;
  std::vector<int64_t> from, to;
};

Axis axis(int64_t n, int64_t out) {
  const int64_t m = n >= 4 * out ? 2 * static_cast<int64_t>(std::floor((static_cast<double>(n) / out - 2) / 2)) : 0;
  return {n - m * out, source_indices(n, out), source_indices(n - m * out, out)};
}

}  // namespace

Image sampled_frame(const Image& image, int64_t height, int64_t width) {
  const Axis rows = axis(image.height, height), cols = axis(image.width, width);
  Image frame{rows.length, cols.length, std::vector<uint8_t>(static_cast<size_t>(rows.length * cols.length * 3))};
  for (size_t r = 0; r < rows.from.size(); ++r) {
    const uint8_t* src = &image.rgb[static_cast<size_t>(rows.from[r] * image.width * 3)];
    uint8_t* dst = &frame.rgb[static_cast<size_t>(rows.to[r] * frame.width * 3)];
    for (size_t c = 0; c < cols.from.size(); ++c) std::memcpy(dst + cols.to[c] * 3, src + cols.from[c] * 3, 3);
  }
  return frame;
}

}  // namespace fastkp::infer
