// JPEG decoding with libjpeg-turbo's libjpeg API, matching PIL's results.
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include <jpeglib.h>
// after jpeglib.h, which it needs: libjpeg's message codes for ERREXIT
#include <jerror.h>

#include "image_decoders.h"

namespace fastkp::infer::detail {
namespace {

struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) are corrupt data or a premature end of file: libjpeg would
// go on with made-up pixels, PIL raises, so they are errors here too.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);
}

struct Decoded {
  int height = 0, width = 0, components = 0;  // components: 3 (RGB) or 4 (CMYK)
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> exif;  // the first APP1 "Exif" payload, as PIL keeps it
};

// The colour spaces decode() converts to RGB or CMYK; libjpeg refuses the others
// (JCS_UNKNOWN: 2 or 5+ components) only when decompression starts.
void check_color_space(j_decompress_ptr cinfo) {
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: case JCS_YCbCr: case JCS_RGB: case JCS_CMYK: case JCS_YCCK: return;
    default: ERREXIT(cinfo, JERR_CONVERSION_NOTIMPL);
  }
}

// Runs read(cinfo) on a decompressor of `data`, then reads to the end of the image;
// false with libjpeg's message in err->message when libjpeg fails. libjpeg's errors
// longjmp back into this frame, past `read`: only trivially destructible locals may
// live in either.
template <typename Read>
bool with_decompressor(const uint8_t* data, size_t size, ErrorManager* err, Read read) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err->base);
  err->base.error_exit = on_error;
  err->base.emit_message = on_message;
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  try {  // C++ allocations in `read` may throw; libjpeg errors longjmp past this block, skipping no destructors
    jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
    read(&cinfo);
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

// The pixels, into *out.
bool decode(const uint8_t* data, size_t size, int64_t max_pixels, Decoded* out, ErrorManager* err) {
  return with_decompressor(data, size, err, [&](j_decompress_ptr cinfo) {
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(cinfo, TRUE);
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != nullptr; m = m->next) {
      if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
        out->exif.assign(m->data, m->data + m->data_length);
        break;
      }
    }
    const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_EXT_RGB;  // grayscale and YCbCr convert to RGB
    check_pixel_count(cinfo->image_width, cinfo->image_height, max_pixels);
    jpeg_start_decompress(cinfo);
    out->height = static_cast<int>(cinfo->output_height);
    out->width = static_cast<int>(cinfo->output_width);
    out->components = cinfo->output_components;
    const size_t stride = static_cast<size_t>(out->width) * out->components;
    out->pixels.resize(stride * out->height);
    while (cinfo->output_scanline < cinfo->output_height) {
      JSAMPROW row = out->pixels.data() + cinfo->output_scanline * stride;
      jpeg_read_scanlines(cinfo, &row, 1);
    }
  });
}

// decode()'s checks without the pixels: the header, the pixel limit, the colour space
// and all the entropy-coded data (jpeg_read_coefficients: Huffman decoding, no IDCT,
// no upsampling or colour conversion), with the same corrupt-data warnings as errors.
bool check(const uint8_t* data, size_t size, int64_t max_pixels, ErrorManager* err) {
  return with_decompressor(data, size, err, [&](j_decompress_ptr cinfo) {
    jpeg_read_header(cinfo, TRUE);
    check_pixel_count(cinfo->image_width, cinfo->image_height, max_pixels);
    check_color_space(cinfo);
    jpeg_read_coefficients(cinfo);
  });
}

// Runs decode() or check() with libjpeg's errors as std::runtime_error.
template <typename Step, typename... Args>
void run(Step step, const std::vector<uint8_t>& bytes, int64_t max_pixels, Args... args) {
  ErrorManager err;
  bool ok;
  try {
    ok = step(bytes.data(), bytes.size(), max_pixels, args..., &err);
  } catch (const std::bad_alloc&) {
    throw std::runtime_error("out of memory decoding the JPEG");
  }
  if (!ok) throw std::runtime_error(std::string("corrupt JPEG (libjpeg: ") + err.message + ")");
}

// PIL reads CMYK JPEGs as inverted (Adobe) CMYK and converts to RGB with
// r = (255 - k) - c * (255 - k) / 255 in its rounding; libjpeg hands over the raw,
// inverted values, so c = 255 - raw.
uint8_t cmyk_channel(uint8_t raw_c, uint8_t raw_k) {
  int nk = raw_k;  // 255 - k
  int c = 255 - raw_c;
  int t = c * nk + 128;
  int v = nk - (((t >> 8) + t) >> 8);
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

}  // namespace

Image decode_jpeg(const std::vector<uint8_t>& bytes, int64_t max_pixels) {
  Decoded d;
  run(decode, bytes, max_pixels, &d);
  Image img;
  img.height = d.height;
  img.width = d.width;
  if (d.components == 3) {
    img.rgb = std::move(d.pixels);
  } else {
    img.rgb.resize(static_cast<size_t>(d.height) * d.width * 3);
    for (size_t i = 0, n = img.rgb.size() / 3; i < n; ++i) {
      const uint8_t* p = &d.pixels[i * 4];
      for (int ch = 0; ch < 3; ++ch) img.rgb[i * 3 + ch] = cmyk_channel(p[ch], p[3]);
    }
  }
  return upright(std::move(img), d.exif);
}

void verify_jpeg(const std::vector<uint8_t>& bytes, int64_t max_pixels) { run(check, bytes, max_pixels); }

}  // namespace fastkp::infer::detail
