// decode_image: read the file, recognise its format by its first bytes, decode; collect_images.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "image_decoders.h"
#include "fastkp/infer/error.h"

namespace fastkp::infer {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": no such image file");
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": cannot read the file");
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

}  // namespace

namespace detail {

void check_pixel_count(int64_t width, int64_t height) {
  if (width * height > kMaxPixels)
    throw std::runtime_error("image too large (" + std::to_string(width) + "x" + std::to_string(height) +
                             ", more than " + std::to_string(kMaxPixels) + " pixels)");
}

}  // namespace detail

Image decode_image(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  try {
    if (starts_with(bytes, "\xFF\xD8\xFF", 3)) return detail::decode_jpeg(bytes);
    if (starts_with(bytes, "\x89PNG\r\n\x1A\n", 8)) return detail::decode_png(bytes);
    if (starts_with(bytes, "P5", 2) || starts_with(bytes, "P6", 2)) return detail::decode_pnm(bytes);
  } catch (const std::runtime_error& e) {
    throw Error(path + ": " + e.what());
  }
  throw Error(path + ": not a JPEG, PNG or binary PGM/PPM image (fastkp-infer reads those formats)");
}

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
