#include "resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace fastkp::infer {
namespace {

// One output index's two source indices and weights, as ATen's upsample_bilinear2d on CPU
// computes them for float32 (area_pixel_compute_source_index, align_corners false).
struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

std::vector<Tap> taps(int64_t in, int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  std::vector<Tap> t(out);
  for (int64_t o = 0; o < out; ++o) {
    const float real = std::max(scale * (static_cast<float>(o) + 0.5f) - 0.5f, 0.0f);
    const int64_t i0 = static_cast<int64_t>(real);
    const float lambda = std::clamp(real - static_cast<float>(i0), 0.0f, 1.0f);
    t[o] = {i0, i0 + (i0 < in - 1 ? 1 : 0), 1.0f - lambda, lambda};
  }
  return t;
}

}  // namespace

Image resized(const Image& image, int64_t height, int64_t width) {
  const std::vector<Tap> ys = taps(image.height, height), xs = taps(image.width, width);
  Image out{height, width, std::vector<uint8_t>(static_cast<size_t>(height * width * 3))};
  const auto at = [&](int64_t y, int64_t x, int c) {
    return static_cast<float>(image.rgb[static_cast<size_t>((y * image.width + x) * 3 + c)]);
  };
  uint8_t* dst = out.rgb.data();
  for (const Tap& y : ys)
    for (const Tap& x : xs)
      for (int c = 0; c < 3; ++c) {
        const float v = y.w0 * (x.w0 * at(y.i0, x.i0, c) + x.w1 * at(y.i0, x.i1, c)) +
                        y.w1 * (x.w0 * at(y.i1, x.i0, c) + x.w1 * at(y.i1, x.i1, c));
        *dst++ = static_cast<uint8_t>(std::clamp(std::nearbyint(v), 0.0f, 255.0f));
      }
  return out;
}

}  // namespace fastkp::infer
