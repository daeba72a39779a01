#include "shared_libraries.h"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "archive.h"
#include "fastkp/infer/error.h"
#include "zip_directory.h"

namespace fastkp::infer {
namespace {

constexpr std::uint64_t kLocalHeaderSize = 30, kElfHeaderSize = 64;
constexpr std::uint32_t kSectionNoBits = 8;  // SHT_NOBITS: .bss, no bytes in the file

std::uint64_t le(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// `n` bytes at `offset` of the file; empty when the file ends first.
std::vector<std::uint8_t> read_at(std::ifstream& in, std::uint64_t offset, std::uint64_t n) {
  std::vector<std::uint8_t> bytes(n);
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(n));
  if (!in) bytes.clear();
  return bytes;
}

bool ends(std::uint64_t offset, std::uint64_t size, std::uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

// Why the ELF image of `size` bytes at `start` in the file is cut short, or "" when it is whole.
std::string elf_damage(std::ifstream& in, std::uint64_t start, std::uint64_t size) {
  if (size < kElfHeaderSize) return size < 4 ? "" : "shorter than an ELF header";
  const std::vector<std::uint8_t> h = read_at(in, start, kElfHeaderSize);
  if (h.empty()) return "cut short";
  if (std::memcmp(h.data(), "\x7F" "ELF\x02\x01", 6) != 0) return "";  // not ELF64 LE: dlopen says so itself
  const std::uint64_t phoff = le(&h[32], 8), shoff = le(&h[40], 8);
  const std::uint64_t phsize = le(&h[54], 2), phnum = le(&h[56], 2), shsize = le(&h[58], 2), shnum = le(&h[60], 2);
  // Elf64_Phdr and Elf64_Shdr: p_offset at 8, sh_type at 4 and sh_offset at 24, both sizes at 32.
  struct Table {
    const char* name;
    std::uint64_t offset, count, entry, want_entry, offset_at;
  };
  for (const Table& t :
       {Table{"program", phoff, phnum, phsize, 56, 8}, Table{"section", shoff, shnum, shsize, 64, 24}}) {
    if (t.count == 0) continue;
    if (t.entry != t.want_entry || !ends(t.offset, t.entry * t.count, size))
      return std::string("its ") + t.name + " headers lie past its " + std::to_string(size) + " bytes";
    const std::vector<std::uint8_t> table = read_at(in, start + t.offset, t.entry * t.count);
    if (table.empty()) return "cut short";
    for (std::uint64_t i = 0; i < t.count; ++i) {
      const std::uint8_t* e = &table[i * t.entry];
      if (t.offset_at == 24 && le(e + 4, 4) == kSectionNoBits) continue;
      const std::uint64_t offset = le(e + t.offset_at, 8), bytes = le(e + 32, 8);
      if (!ends(offset, bytes, size))
        return std::string(t.name) + " " + std::to_string(i) + " ends past its " + std::to_string(size) + " bytes";
    }
  }
  return "";
}

}  // namespace

void check_shared_libraries(const std::string& path) {
  std::vector<ZipEntry> entries;
  try {
    entries = read_zip_directory(path);  // check_archive has read it once: only a changed file fails here
  } catch (const std::runtime_error& e) {
    throw Error(path + ": not a fastkp model file (" + e.what() + ")");
  }
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const std::uint64_t file_size = std::filesystem::file_size(path, ec);
  if (!in || ec) throw Error(path + ": cannot read the file");
  for (const ZipEntry& e : entries) {
    std::string lower = e.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!lower.ends_with(".so")) continue;
    const std::string entry = path + ": the shared library " + quoted(e.name) + " ";
    if (e.method != 0 || e.compressed_size != e.size)
      throw Error(entry + "is compressed (torch stores its libraries uncompressed); refusing the file");
    const std::vector<std::uint8_t> local = read_at(in, e.offset, kLocalHeaderSize);
    if (local.empty() || std::memcmp(local.data(), "PK\3\4", 4) != 0)
      throw Error(entry + "has no local header where the directory says; refusing the file");
    const std::uint64_t start = e.offset + kLocalHeaderSize + le(&local[26], 2) + le(&local[28], 2);
    if (!ends(start, e.size, file_size))
      throw Error(entry + "runs past the end of the file; refusing the file");
    const std::string damage = elf_damage(in, start, e.size);
    if (!damage.empty()) throw Error(entry + "is truncated or damaged (" + damage + "); refusing the file");
  }
}

}  // namespace fastkp::infer
