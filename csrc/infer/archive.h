// Model files are untrusted zip archives: the entry checks of
// python/fastkp/export/archive.py, made before any loader opens the file.
#pragma once

#include <cstdint>
#include <string>

namespace fastkp::infer {

inline constexpr std::uint64_t kMaxMetadataBytes = 1 << 20;

// `name` in single quotes, control bytes as \xNN: a crafted entry name cannot break a one-line message.
std::string quoted(const std::string& name);

// Error naming `path` (and the entry) unless the file is a well-formed zip whose
// entries are neither absolute, nor climbing with "..", nor symbolic links, nor
// repeated, and at most one entry, of at most kMaxMetadataBytes, ends with `record`.
void check_archive(const std::string& path, const std::string& record);

}  // namespace fastkp::infer
