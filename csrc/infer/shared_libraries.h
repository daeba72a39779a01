// The compiled shared libraries inside a pt2 package, checked before anything maps them.
#pragma once

#include <string>

namespace fastkp::infer {

// A library whose ELF headers point past its end is mapped by dlopen all the same, and
// the first touch of a missing page kills the process with SIGBUS (no message, the
// extraction folder left behind). Error naming `path` and the entry unless every ".so"
// entry of the package is stored uncompressed (as torch writes it) inside the file, and
// is either not a 64-bit little-endian ELF (dlopen refuses those with a message) or one
// whose header tables, segments and sections all lie within its recorded size.
void check_shared_libraries(const std::string& path);

}  // namespace fastkp::infer
