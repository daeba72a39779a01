// A bounded parse of a zip's central directory (APPNOTE.TXT 4.3): the end record, the
// zip64 end record when a locator precedes it (torch's writer always adds one), then
// the entries. Strict where readers could disagree: the directory must end exactly
// where the end record starts (Python's zipfile would look elsewhere for data
// prepended to the archive, miniz would not) and hold exactly the entries it claims.
#include "zip_directory.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace fastkp::infer {
namespace {

constexpr std::uint32_t kEnd64Signature = 0x06064b50;
constexpr std::uint32_t kLocatorSignature = 0x07064b50, kEntrySignature = 0x02014b50;
constexpr std::uint64_t kEndSize = 22, kLocatorSize = 20, kEnd64Size = 56, kEntrySize = 46;
constexpr std::uint64_t kMaxComment = 0xFFFF, kMaxDirectory = 64 << 20;
constexpr std::uint32_t kZip64Extra = 0x0001, kUse64 = 0xFFFFFFFF;

[[noreturn]] void damaged(const std::string& why) { throw std::runtime_error("damaged zip directory: " + why); }

// Little-endian fields of a byte buffer; reading past its end is a damaged directory.
class Reader {
 public:
  explicit Reader(std::vector<std::uint8_t> bytes) : b_(std::move(bytes)) {}
  std::uint64_t read(int n) {
    need(n);
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = v << 8 | b_[pos_ + i];
    pos_ += n;
    return v;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(read(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(read(4)); }
  std::uint64_t u64() { return read(8); }
  std::string text(std::size_t n) {
    need(n);
    std::string s(b_.begin() + pos_, b_.begin() + pos_ + n);
    pos_ += n;
    return s;
  }
  void skip(std::size_t n) { need(n), pos_ += n; }
  std::size_t left() const { return b_.size() - pos_; }

 private:
  void need(std::size_t n) const {
    if (left() < n) damaged("a record runs past its end");
  }
  std::vector<std::uint8_t> b_;
  std::size_t pos_ = 0;
};

std::vector<std::uint8_t> read_at(std::ifstream& in, std::uint64_t offset, std::uint64_t n) {
  std::vector<std::uint8_t> bytes(n);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(n));
  if (!in) throw std::runtime_error("cannot read the file");
  return bytes;
}

struct Directory {
  std::uint64_t entries = 0, size = 0, offset = 0;
  std::uint64_t end = 0;  // where the records after the entries start
};

// The last end record in the file's final 64 KiB + 22 bytes, as zip readers search for it.
std::uint64_t find_end_record(std::ifstream& in, std::uint64_t file_size) {
  const std::uint64_t tail = std::min(file_size, kEndSize + kMaxComment);
  const std::vector<std::uint8_t> b = read_at(in, file_size - tail, tail);
  for (std::uint64_t i = tail < kEndSize ? 0 : tail - kEndSize + 1; i-- > 0;)
    if (std::memcmp(&b[i], "PK\5\6", 4) == 0) return file_size - tail + i;
  throw std::runtime_error("no zip end-of-central-directory record");
}

void one_disk(bool ok) {
  if (!ok) damaged("the archive spans several disks");
}

Directory read_end_records(std::ifstream& in, std::uint64_t file_size) {
  const std::uint64_t end = find_end_record(in, file_size);
  Reader f(read_at(in, end, kEndSize));
  f.skip(4);
  const std::uint16_t disk = f.u16(), directory_disk = f.u16(), on_disk = f.u16();
  Directory d{f.u16(), f.u32(), f.u32(), end};
  one_disk(disk == 0 && directory_disk == 0 && on_disk == d.entries);
  if (end < kLocatorSize) return d;
  Reader locator(read_at(in, end - kLocatorSize, kLocatorSize));
  if (locator.u32() != kLocatorSignature) return d;
  const std::uint32_t end64_disk = locator.u32();
  const std::uint64_t end64 = locator.u64();
  one_disk(end64_disk == 0 && locator.u32() == 1);
  if (end64 > end - kLocatorSize || end - kLocatorSize - end64 < kEnd64Size)
    damaged("the zip64 end record lies outside the file");
  Reader f64(read_at(in, end64, kEnd64Size));
  if (f64.u32() != kEnd64Signature) damaged("no zip64 end record where the locator points");
  f64.skip(8 + 2 + 2);  // record size, versions
  const std::uint32_t disk64 = f64.u32(), directory_disk64 = f64.u32();
  const std::uint64_t on_disk64 = f64.u64();
  d = {f64.u64(), f64.u64(), f64.u64(), end64};
  one_disk(disk64 == 0 && directory_disk64 == 0 && on_disk64 == d.entries);
  return d;
}

// The fields that the fixed header marks 0xFFFFFFFF, from its zip64 extra field, which
// lists only those, in this order: uncompressed size, compressed size, local header offset.
void read_zip64(Reader extra, bool size, bool compressed, bool offset, ZipEntry* e) {
  while (extra.left() > 0) {
    const std::uint16_t id = extra.u16(), n = extra.u16();
    if (id != kZip64Extra) {
      extra.skip(n);
      continue;
    }
    if (n < 8 * (size + compressed + offset)) damaged("a zip64 extra field too short for its fields");
    if (size) e->size = extra.u64();
    if (compressed) e->compressed_size = extra.u64();
    if (offset) e->offset = extra.u64();
    return;
  }
  damaged("an entry of 4 GiB or more without its zip64 fields");
}

ZipEntry read_entry(Reader& f) {
  if (f.u32() != kEntrySignature) damaged("an entry without its signature");
  ZipEntry e;
  f.skip(2 + 2 + 2);  // versions, flags
  e.method = f.u16();
  f.skip(4 + 4);  // time and date, CRC
  e.compressed_size = f.u32();
  e.size = f.u32();
  const std::uint16_t name = f.u16(), extra = f.u16(), comment = f.u16();
  f.skip(2 + 2);  // disk, internal attributes
  e.external_attributes = f.u32();
  e.offset = f.u32();
  e.name = f.text(name);
  std::string extra_bytes = f.text(extra);
  if (e.size == kUse64 || e.compressed_size == kUse64 || e.offset == kUse64)
    read_zip64(Reader({extra_bytes.begin(), extra_bytes.end()}), e.size == kUse64, e.compressed_size == kUse64,
               e.offset == kUse64, &e);
  f.skip(comment);
  return e;
}

}  // namespace

std::vector<ZipEntry> read_zip_directory(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const std::uint64_t file_size = std::filesystem::file_size(path, ec);
  if (!in || ec) throw std::runtime_error("cannot read the file");
  const Directory d = read_end_records(in, file_size);
  if (d.size > d.end || d.offset != d.end - d.size)
    damaged("the entries do not end where the end record starts");
  if (d.size > kMaxDirectory) damaged(std::to_string(d.size) + " bytes of entries (at most 64 MiB)");
  if (d.entries > d.size / kEntrySize)
    damaged(std::to_string(d.entries) + " entries claimed in " + std::to_string(d.size) + " bytes");
  Reader f(read_at(in, d.offset, d.size));
  std::vector<ZipEntry> entries;
  entries.reserve(d.entries);
  while (entries.size() < d.entries) entries.push_back(read_entry(f));
  if (f.left() != 0) damaged("more entries than the end record counts");
  return entries;
}

}  // namespace fastkp::infer
