// check_archive: what a crafted model file may not do before it reaches a loader.
#include "archive.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <unordered_set>
#include <vector>

#include "fastkp/infer/error.h"
#include "zip_directory.h"

namespace fastkp::infer {
namespace {

constexpr const char* kRefuse = "; refusing the file";

// Absolute (/, \ or a drive letter) or with a ".." part, either separator counting.
bool points_outside(const std::string& name) {
  if (!name.empty() && (name[0] == '/' || name[0] == '\\')) return true;
  if (name.size() >= 2 && name[1] == ':' && ((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z')) return true;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '/' && name[i] != '\\') continue;
    if (name.compare(start, i - start, "..") == 0) return true;
    start = i + 1;
  }
  return false;
}

bool is_link(std::uint32_t external_attributes) { return S_ISLNK(external_attributes >> 16); }

}  // namespace

std::string quoted(const std::string& name) {
  std::string out = "'";
  for (unsigned char c : name) {
    if (c >= 0x20 && c != 0x7F) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out + "'";
}

void check_archive(const std::string& path, const std::string& record) {
  std::vector<ZipEntry> entries;
  try {
    entries = read_zip_directory(path);
  } catch (const std::runtime_error& e) {
    throw Error(path + ": not a fastkp model file (" + e.what() + ")");
  }
  // Bytes before the first entry, even with offsets that account for them, are read by
  // some zip readers and not others: refused, as Python's zipfile check refuses them.
  std::uint64_t first = UINT64_MAX;
  for (const ZipEntry& e : entries) first = std::min(first, e.offset);
  if (!entries.empty() && first != 0)
    throw Error(path + ": the archive does not start at the beginning of the file" + kRefuse);
  std::unordered_set<std::string> seen;
  std::vector<const ZipEntry*> records;
  for (const ZipEntry& e : entries) {
    // torch's zip reader (miniz) finds entries ignoring ASCII case: so do these checks.
    std::string lower = e.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string entry = path + ": entry " + quoted(e.name);
    if (points_outside(e.name)) throw Error(entry + " points outside the archive" + kRefuse);
    // Extractors stop a name at its NUL byte, so it could alias another entry.
    if (e.name.find('\0') != std::string::npos) throw Error(entry + " has a NUL byte in its name" + kRefuse);
    if (is_link(e.external_attributes)) throw Error(entry + " is a symbolic link" + kRefuse);
    if (!seen.insert(lower).second) throw Error(entry + " appears twice" + kRefuse);
    if (lower.ends_with(record)) records.push_back(&e);
  }
  if (records.size() > 1)
    throw Error(path + ": " + std::to_string(records.size()) + " entries named " + record + kRefuse);
  if (!records.empty() && records[0]->size > kMaxMetadataBytes)
    throw Error(path + ": " + record + " is " + std::to_string(records[0]->size) + " bytes (at most " +
                std::to_string(kMaxMetadataBytes) + ")" + kRefuse);
}

}  // namespace fastkp::infer
