// Image decoders behind fastkp::infer::decode_image. They throw std::runtime_error
// with a message that decode_image prefixes with the file's path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fastkp/infer/image.h"

namespace fastkp::infer::detail {

// Images of more pixels are refused (PIL's DecompressionBombError threshold).
constexpr int64_t kMaxPixels = 2 * 89478485;

Image decode_jpeg(const std::vector<std::uint8_t>& bytes);
Image decode_pnm(const std::vector<std::uint8_t>& bytes);

// The Orientation tag (0x0112) of an APP1 "Exif\0\0" payload; 1 when absent or
// outside 1..8, as PIL's ImageOps.exif_transpose treats it.
int exif_orientation(const std::uint8_t* payload, std::size_t size);

// The image as displayed for an EXIF orientation 1..8 (ImageOps.exif_transpose).
Image apply_orientation(const Image& stored, int orientation);

}  // namespace fastkp::infer::detail
