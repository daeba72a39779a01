// The compressed chunks of a PNG (iCCP, zTXt, iTXt) under PIL's limits, so that fastkp-infer,
// fastkp._verify and fastkp.predict (PIL) refuse the same decompression bombs. libpng
// would drop such a chunk with a warning and decode the image; PIL raises, and refusing
// is the policy here too (docs/faults.md).
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "image_decoders.h"

namespace fastkp::infer::detail {
namespace {

constexpr size_t kMaxChunkText = 1 << 20;  // PIL's PngImagePlugin.MAX_TEXT_CHUNK
constexpr size_t kMaxTextMemory = 64 * kMaxChunkText;  // PIL's MAX_TEXT_MEMORY, over all text chunks

uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

// The bytes `data` inflates to, counted without keeping them: kMaxChunkText + 1 once past
// the limit; 0 for a stream zlib calls corrupt (PIL ignores such a chunk). A stream that
// stops early counts what it gave, as PIL keeps it.
size_t inflated_size(const uint8_t* data, size_t size) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) throw std::bad_alloc();
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  unsigned char out[1 << 16];
  size_t total = 0;
  int rc = Z_OK;
  while (rc == Z_OK && total <= kMaxChunkText) {
    z.next_out = out;
    z.avail_out = sizeof out;
    rc = inflate(&z, Z_NO_FLUSH);
    total += sizeof out - z.avail_out;
  }
  inflateEnd(&z);
  if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR) return 0;
  return std::min(total, kMaxChunkText + 1);
}

[[noreturn]] void refuse(const char* chunk, const std::string& why) {
  throw std::runtime_error(std::string("PNG ") + chunk + " chunk " + why + "; refusing the image");
}

// The decompressed size of a chunk's zlib data at `data`, refused past kMaxChunkText.
size_t checked(const char* chunk, const uint8_t* data, size_t size) {
  const size_t n = inflated_size(data, size);
  if (n > kMaxChunkText) refuse(chunk, "inflates to more than 1 MiB (a decompression bomb)");
  return n;
}

// The text PIL keeps from one chunk (its bytes; PIL counts iTXt's UTF-8 characters, a little fewer).
size_t text_of(const char* type, const uint8_t* s, size_t n) {
  const auto* nul = static_cast<const uint8_t*>(std::memchr(s, 0, n));
  const size_t key = nul ? nul - s : n;
  const size_t rest = nul ? n - key - 1 : 0;  // after the keyword's NUL
  const uint8_t* v = s + key + (nul ? 1 : 0);
  if (std::strcmp(type, "iCCP") == 0) {
    const size_t method_at = nul ? key + 1 : 0;  // PIL reads s[find(NUL) + 1], s[0] when there is none
    if (method_at >= n || s[method_at] != 0)
      refuse(type, method_at >= n ? "holds no compression method" : "has an unknown compression method");
    checked(type, s + method_at + 1, n - method_at - 1);
    return 0;  // a profile, not text
  }
  if (std::strcmp(type, "tEXt") == 0) return key > 0 ? rest : 0;
  if (std::strcmp(type, "zTXt") == 0) {
    if (rest > 0 && v[0] != 0) refuse(type, "has an unknown compression method");
    const size_t text = rest > 0 ? checked(type, v + 1, rest - 1) : 0;
    return key > 0 ? text : 0;
  }
  // iTXt: keyword NUL, compression flag, method, language NUL, translated keyword NUL, text.
  if (!nul || rest < 2) return 0;
  const uint8_t flag = v[0], method = v[1];
  const uint8_t *p = v + 2, *end = v + rest;
  for (int field = 0; field < 2; ++field) {
    p = static_cast<const uint8_t*>(std::memchr(p, 0, end - p));
    if (!p) return 0;
    ++p;
  }
  if (flag == 0) return end - p;
  return method == 0 ? checked(type, p, end - p) : 0;
}

}  // namespace

void check_png_text(const std::vector<uint8_t>& bytes) {
  size_t memory = 0;
  for (size_t pos = 8; pos + 8 <= bytes.size();) {
    const size_t length = be32(&bytes[pos]);
    char type[5] = {};
    std::memcpy(type, &bytes[pos + 4], 4);
    if (length > bytes.size() - pos - 8) return;  // truncated: libpng says so
    if (std::strcmp(type, "IEND") == 0) return;
    if (!std::strcmp(type, "iCCP") || !std::strcmp(type, "tEXt") || !std::strcmp(type, "zTXt") ||
        !std::strcmp(type, "iTXt")) {
      memory += text_of(type, &bytes[pos + 8], length);
      if (memory > kMaxTextMemory) refuse(type, "brings the text chunks past 64 MiB");
    }
    pos += 12 + length;
  }
}

}  // namespace fastkp::infer::detail
