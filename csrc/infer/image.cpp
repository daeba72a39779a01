// decode_image and verify_image: read the file, recognise its format by its first bytes,
// decode or check it; the pixel limit; collect_images.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <stdexcept>

#include "image_decoders.h"
#include "fastkp/infer/error.h"

namespace fastkp::infer {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": no such image file");
  const auto size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) throw Error(path + ": cannot read the file");
  std::vector<uint8_t> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (!in) throw Error(path + ": cannot read the file");
  return bytes;
}

bool is_image_name(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(kImageSuffixes.begin(), kImageSuffixes.end(), ext) != kImageSuffixes.end();
}

bool starts_with(const std::vector<uint8_t>& bytes, const char* signature, size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), signature, n) == 0;
}

struct Codec {
  Image (*decode)(const std::vector<uint8_t>&, int64_t);
  void (*verify)(const std::vector<uint8_t>&, int64_t);
};

// The codec of the file's format, recognised by its first bytes.
const Codec& codec_of(const std::string& path, const std::vector<uint8_t>& bytes) {
  static constexpr Codec jpeg{detail::decode_jpeg, detail::verify_jpeg}, png{detail::decode_png, detail::verify_png},
      pnm{detail::decode_pnm, detail::verify_pnm};
  if (starts_with(bytes, "\xFF\xD8\xFF", 3)) return jpeg;
  if (starts_with(bytes, "\x89PNG\r\n\x1A\n", 8)) return png;
  if (starts_with(bytes, "P5", 2) || starts_with(bytes, "P6", 2)) return pnm;
  throw Error(path + ": not a JPEG, PNG or binary PGM/PPM image (fastkp-infer reads those formats)");
}

// `step` (a codec's decode or verify) with its errors as Error naming the file.
template <typename Step>
auto run(const std::string& path, int64_t max_pixels, Step Codec::*step) {
  if (max_pixels < 1) throw Error("the pixel limit must be positive, got " + std::to_string(max_pixels));
  std::vector<uint8_t> bytes = read_file(path);
  const Codec& codec = codec_of(path, bytes);
  try {
    return (codec.*step)(bytes, max_pixels);
  } catch (const std::runtime_error& e) {
    throw Error(path + ": " + e.what());
  } catch (const std::bad_alloc&) {
    throw Error(path + ": out of memory decoding the image");
  }
}

}  // namespace

namespace detail {

void check_pixel_count(int64_t width, int64_t height, int64_t max_pixels) {
  if (width * height > max_pixels)
    throw std::runtime_error("image too large (" + std::to_string(width) + "x" + std::to_string(height) +
                             ", more than " + std::to_string(max_pixels) + " pixels)");
}

}  // namespace detail

int64_t pixel_limit() {
  const char* text = std::getenv("FASTKP_MAX_PIXELS");
  if (text == nullptr) return kDefaultMaxPixels;
  int64_t value = 0;
  const char* end = text + std::strlen(text);
  auto [stop, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || stop != end || stop == text || value < 1)
    throw Error(std::string("FASTKP_MAX_PIXELS must be a positive integer (a number of pixels), got '") + text + "'");
  return value;
}

Image decode_image(const std::string& path, int64_t max_pixels) { return run(path, max_pixels, &Codec::decode); }

void verify_image(const std::string& path, int64_t max_pixels) { run(path, max_pixels, &Codec::verify); }

std::vector<std::string> collect_images(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (!std::filesystem::is_directory(p, ec)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = std::filesystem::recursive_directory_iterator(p, ec); !ec && it != std::filesystem::end(it);
         it.increment(ec)) {
      if (it->is_regular_file(ec) && is_image_name(it->path())) found.push_back(it->path().string());
    }
    if (ec) throw Error(p + ": cannot list the folder (" + ec.message() + ")");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace fastkp::infer
