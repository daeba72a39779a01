// decode_image: read the file, recognise its format, decode; collect_images.
#include <algorithm>
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
  return ext == ".jpg" || ext == ".jpeg" || ext == ".ppm" || ext == ".pgm" || ext == ".pnm";
}

}  // namespace

Image decode_image(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  try {
    if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return detail::decode_jpeg(bytes);
    if (bytes.size() >= 3 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '6')) return detail::decode_pnm(bytes);
  } catch (const std::runtime_error& e) {
    throw Error(path + ": " + e.what());
  }
  throw Error(path + ": not a JPEG or binary PGM/PPM image (fastkp-infer reads those formats)");
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
