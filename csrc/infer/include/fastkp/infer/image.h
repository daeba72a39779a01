#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fastkp::infer {

// Decoded pixels as displayed: RGB, 8 bits, rows top to bottom, no padding.
struct Image {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<std::uint8_t> rgb;  // height * width * 3
};

// Decodes a JPEG (libjpeg-turbo) or a binary PGM/PPM (P5/P6, maxval <= 255) as
// Python's PIL does: EXIF orientation 1..8 applied like ImageOps.exif_transpose,
// grayscale and CMYK converted to RGB. JPEGs that libjpeg reports as corrupt or
// truncated are refused rather than decoded with made-up pixels.
Image decode_image(const std::string& path);

// Files as given; each folder replaced by the image files below it (extensions
// .jpg .jpeg .ppm .pgm .pnm, any case), recursively, sorted by path.
std::vector<std::string> collect_images(const std::vector<std::string>& paths);

}  // namespace fastkp::infer
