// The central directory of a zip archive, read without extracting anything.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fastkp::infer {

struct ZipEntry {
  std::string name;  // as stored: bytes, not decoded
  std::uint32_t external_attributes = 0;  // Unix mode in the high 16 bits
  std::uint16_t method = 0;  // 0: stored, 8: deflated
  std::uint64_t compressed_size = 0;
  std::uint64_t size = 0;  // uncompressed
  std::uint64_t offset = 0;  // of its local header, from the file's first byte
};

// The entries of the zip at `path`, in directory order (zip64 included). Throws
// std::runtime_error saying what is wrong for a file that is not a zip archive or
// whose directory is malformed, spans disks or holds more than it claims.
std::vector<ZipEntry> read_zip_directory(const std::string& path);

}  // namespace fastkp::infer
