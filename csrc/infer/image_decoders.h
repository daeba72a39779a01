// Image decoders behind fastkp::infer::decode_image. They throw std::runtime_error
// with a message that decode_image prefixes with the file's path.
#pragma once

#include <cstdint>
#include <vector>

#include "fastkp/infer/image.h"

namespace fastkp::infer::detail {

// Images of more pixels are refused (PIL's DecompressionBombError threshold).
constexpr int64_t kMaxPixels = 2 * 89478485;

// Throws "image too large" for an image of more than kMaxPixels pixels.
void check_pixel_count(int64_t width, int64_t height);

Image decode_jpeg(const std::vector<std::uint8_t>& bytes);
Image decode_png(const std::vector<std::uint8_t>& bytes);
Image decode_pnm(const std::vector<std::uint8_t>& bytes);

// The image as displayed: `exif` is an APP1 "Exif\0\0" payload (empty when the file
// has none) whose orientation 1..8 is applied as PIL's ImageOps.exif_transpose does.
Image upright(Image stored, const std::vector<std::uint8_t>& exif);

}  // namespace fastkp::infer::detail
