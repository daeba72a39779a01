// EXIF orientation: read the tag, and turn the stored pixels upright.
#include <cstring>
#include <stdexcept>

#include "image_decoders.h"

namespace fastkp::infer::detail {
namespace {

constexpr uint16_t kOrientationTag = 0x0112;
constexpr uint16_t kShort = 3, kLong = 4;

class TiffReader {
 public:
  TiffReader(const uint8_t* data, size_t size, bool little) : data_(data), size_(size), little_(little) {}
  bool has(size_t offset, size_t n) const { return offset <= size_ && n <= size_ - offset; }
  uint32_t u16(size_t offset) const {
    const uint8_t* p = data_ + offset;
    return little_ ? p[0] | p[1] << 8 : p[0] << 8 | p[1];
  }
  uint32_t u32(size_t offset) const {
    const uint8_t* p = data_ + offset;
    return little_ ? p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24
                   : static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
  }

 private:
  const uint8_t* data_;
  size_t size_;
  bool little_;
};

// The Orientation tag (0x0112) of an APP1 "Exif\0\0" payload; 1 when absent or
// outside 1..8, as PIL's ImageOps.exif_transpose treats it.
int exif_orientation(const uint8_t* payload, size_t size) {
  // "Exif\0\0", then a TIFF header ("II" or "MM", 42, offset of IFD0) and IFD0's entries.
  if (size < 14 || std::memcmp(payload, "Exif\0\0", 6) != 0) return 1;
  const uint8_t* tiff = payload + 6;
  size_t n = size - 6;
  bool little = tiff[0] == 'I' && tiff[1] == 'I';
  if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
  TiffReader r(tiff, n, little);
  if (r.u16(2) != 42) return 1;
  size_t ifd = r.u32(4);
  if (!r.has(ifd, 2)) return 1;
  size_t entries = r.u16(ifd);
  for (size_t k = 0; k < entries; ++k) {
    size_t e = ifd + 2 + 12 * k;
    if (!r.has(e, 12)) return 1;
    if (r.u16(e) != kOrientationTag) continue;
    uint32_t type = r.u16(e + 2), count = r.u32(e + 4);
    if (count < 1) return 1;
    uint32_t value = type == kShort ? r.u16(e + 8) : type == kLong ? r.u32(e + 8) : 0;
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

// The image as displayed for an EXIF orientation 2..8.
Image apply_orientation(const Image& in, int orientation) {
  const int64_t h = in.height, w = in.width;
  const bool swap = orientation >= 5;  // transposed or turned by 90 degrees
  Image out;
  out.height = swap ? w : h;
  out.width = swap ? h : w;
  out.rgb.resize(in.rgb.size());
  for (int64_t r = 0; r < out.height; ++r) {
    for (int64_t c = 0; c < out.width; ++c) {
      int64_t sr = r, sc = c;  // the stored pixel shown at (r, c)
      switch (orientation) {
        case 2: sc = w - 1 - c; break;                     // mirrored left-right
        case 3: sr = h - 1 - r; sc = w - 1 - c; break;     // turned 180 degrees
        case 4: sr = h - 1 - r; break;                     // mirrored top-bottom
        case 5: sr = c; sc = r; break;                     // transposed
        case 6: sr = h - 1 - c; sc = r; break;             // needs 90 degrees clockwise
        case 7: sr = h - 1 - c; sc = w - 1 - r; break;     // transverse
        case 8: sr = c; sc = w - 1 - r; break;             // needs 90 degrees counter-clockwise
      }
      std::memcpy(&out.rgb[(r * out.width + c) * 3], &in.rgb[(sr * w + sc) * 3], 3);
    }
  }
  return out;
}

}  // namespace

Image upright(Image stored, const std::vector<uint8_t>& exif) {
  const int orientation = exif.empty() ? 1 : exif_orientation(exif.data(), exif.size());
  if (orientation == 1) return stored;
  return apply_orientation(stored, orientation);
}

}  // namespace fastkp::infer::detail
