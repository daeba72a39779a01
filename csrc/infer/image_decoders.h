// Image decoders behind fastkp::infer::decode_image and verify_image. They throw
// std::runtime_error with a message that those functions prefix with the file's path.
#pragma once

#include <cstdint>
#include <vector>

#include "fastkp/infer/image.h"

namespace fastkp::infer::detail {

// Throws "image too large" for an image of more than max_pixels pixels.
void check_pixel_count(int64_t width, int64_t height, int64_t max_pixels);

// Refuses (std::runtime_error) a PNG whose iCCP, zTXt or iTXt chunk inflates past 1 MiB,
// has an unknown compression method, or whose text chunks hold more than 64 MiB in all:
// PIL's limits, so that Python's decoder and these agree on decompression bombs.
void check_png_text(const std::vector<std::uint8_t>& bytes);

// decode_*: the pixels; verify_*: the same checks, the same messages, no pixels.
Image decode_jpeg(const std::vector<std::uint8_t>& bytes, int64_t max_pixels);
Image decode_png(const std::vector<std::uint8_t>& bytes, int64_t max_pixels);
Image decode_pnm(const std::vector<std::uint8_t>& bytes, int64_t max_pixels);
void verify_jpeg(const std::vector<std::uint8_t>& bytes, int64_t max_pixels);
void verify_png(const std::vector<std::uint8_t>& bytes, int64_t max_pixels);
void verify_pnm(const std::vector<std::uint8_t>& bytes, int64_t max_pixels);

// The image as displayed: `exif` is an APP1 "Exif\0\0" payload (empty when the file
// has none) whose orientation 1..8 is applied as PIL's ImageOps.exif_transpose does.
Image upright(Image stored, const std::vector<std::uint8_t>& exif);

}  // namespace fastkp::infer::detail
