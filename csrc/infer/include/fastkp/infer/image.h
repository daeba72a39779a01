#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fastkp::infer {

// Decoded pixels as displayed: RGB, 8 bits, rows top to bottom, no padding.
struct Image {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<std::uint8_t> rgb;  // height * width * 3
};

// Images of more pixels (width x height, from the header, before decoding) are
// refused, in JPEG, PNG and PNM alike, unless the limit is changed.
inline constexpr int64_t kDefaultMaxPixels = 100'000'000;

// The pixel limit in force: the environment variable FASTKP_MAX_PIXELS when set (Error
// unless it is a positive integer), else kDefaultMaxPixels. Read at each call.
int64_t pixel_limit();

// Decodes a JPEG (libjpeg-turbo), a PNG (libpng) or a binary PGM/PPM (P5/P6,
// maxval 255), recognised by its first bytes, as Python's PIL does: EXIF orientation
// 1..8 (PNG: the eXIf chunk) applied like ImageOps.exif_transpose, grayscale, CMYK
// and palettes converted to RGB, alpha dropped, 16-bit PNG samples made 8-bit as PIL
// makes them. Files that libjpeg or libpng report as corrupt or truncated (libjpeg's
// corrupt-data warnings included), and images of more than max_pixels pixels, are
// refused rather than decoded with made-up pixels: Error "PATH: why". So are PNGs whose
// iCCP, zTXt or iTXt chunk inflates past 1 MiB (or whose text chunks hold over 64 MiB):
// decompression bombs, refused as PIL refuses them.
Image decode_image(const std::string& path, int64_t max_pixels = pixel_limit());

// Refuses what decode_image refuses, with the same messages, without making pixels:
// a JPEG's header and all its entropy-coded data are read (Huffman decoding only, no
// IDCT or colour conversion), a PNG's rows are inflated and unfiltered (CRCs checked),
// a PNM's header and size are checked. Returns normally for a usable image.
void verify_image(const std::string& path, int64_t max_pixels = pixel_limit());

// The extensions of the files collect_images takes from folders (in any case).
inline constexpr std::array<std::string_view, 6> kImageSuffixes = {".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pnm"};

// Files as given; each folder replaced by the image files below it (kImageSuffixes),
// recursively, sorted by path.
std::vector<std::string> collect_images(const std::vector<std::string>& paths);

}  // namespace fastkp::infer
