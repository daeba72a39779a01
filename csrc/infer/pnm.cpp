// Binary PGM (P5) and PPM (P6) images with 8-bit samples: lossless input for tests and tools.
#include <cctype>
#include <stdexcept>
#include <string>

#include "image_decoders.h"

namespace fastkp::infer::detail {
namespace {

class Header {
 public:
  explicit Header(const std::vector<uint8_t>& bytes) : b_(bytes) {}

  // A decimal field after whitespace and # comments.
  int64_t field(const char* name) {
    while (pos_ < b_.size() && (std::isspace(b_[pos_]) || b_[pos_] == '#')) {
      if (b_[pos_] == '#')
        while (pos_ < b_.size() && b_[pos_] != '\n') ++pos_;
      else
        ++pos_;
    }
    int64_t value = 0;
    size_t start = pos_;
    while (pos_ < b_.size() && std::isdigit(b_[pos_]) && pos_ - start < 9) value = value * 10 + (b_[pos_++] - '0');
    if (pos_ == start || (pos_ < b_.size() && !std::isspace(b_[pos_])))
      throw std::runtime_error(std::string("damaged PNM header (") + name + ")");
    return value;
  }
  // The single whitespace byte that ends the header; the pixels follow.
  size_t data_start() { return pos_ + 1; }

 private:
  const std::vector<uint8_t>& b_;
  size_t pos_ = 2;  // after the magic number
};

// Where the samples are, after the header's checks and the size check.
struct Layout {
  int64_t width, height;
  size_t start, channels;
};

Layout read_layout(const std::vector<uint8_t>& bytes, int64_t max_pixels) {
  Header header(bytes);
  int64_t width = header.field("width"), height = header.field("height"), maxval = header.field("maxval");
  if (width < 1 || height < 1) throw std::runtime_error("empty PNM image");
  check_pixel_count(width, height, max_pixels);
  if (maxval != 255) throw std::runtime_error("PNM maxval " + std::to_string(maxval) + " (only 255 is read)");
  const size_t start = header.data_start(), channels = bytes[1] == '5' ? 1 : 3;
  const size_t n = static_cast<size_t>(width * height);
  if (bytes.size() < start || bytes.size() - start < n * channels) throw std::runtime_error("truncated PNM image");
  return {width, height, start, channels};
}

}  // namespace

Image decode_pnm(const std::vector<uint8_t>& bytes, int64_t max_pixels) {
  const Layout l = read_layout(bytes, max_pixels);
  const size_t n = static_cast<size_t>(l.width * l.height);
  Image img;
  img.height = l.height;
  img.width = l.width;
  img.rgb.resize(n * 3);
  for (size_t i = 0; i < n; ++i)
    for (size_t ch = 0; ch < 3; ++ch) img.rgb[i * 3 + ch] = bytes[l.start + i * l.channels + (l.channels == 1 ? 0 : ch)];
  return img;
}

void verify_pnm(const std::vector<uint8_t>& bytes, int64_t max_pixels) { read_layout(bytes, max_pixels); }

}  // namespace fastkp::infer::detail
