// PNG decoding with libpng, giving the pixels of fastkp.pipeline.decode.decode_rgb:
// PIL's Image.open, ImageOps.exif_transpose and convert("RGB").
#include <array>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include <png.h>

#include "image_decoders.h"

namespace fastkp::infer::detail {
namespace {

struct Source {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  char message[256] = "";  // libpng's error
};

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  auto* src = static_cast<Source*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof src->message, "%s", message);
  png_longjmp(png, 1);
}

// Warnings are problems libpng reads past, as PIL does (palette indices past the PLTE, an
// oversized text chunk).
void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep out, size_t n) {
  auto* src = static_cast<Source*>(png_get_io_ptr(png));
  if (src->size - src->pos < n) png_error(png, "unexpected end of file");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

struct Decoded {
  Image image;  // as stored
  int color_type = 0, bit_depth = 0, channels = 0;
  std::array<uint8_t, 256 * 3> palette{};  // PIL pads a short PLTE with black
  std::vector<uint8_t> rows;  // samples of one row, or of all rows for an interlaced image
  std::vector<uint8_t> exif;  // "Exif\0\0" + the eXIf chunk, as PIL keeps it
};

// One row as libpng hands it over here (samples below 8 bits unpacked to a byte each,
// 16-bit samples big-endian) -> RGB, as PIL converts the mode it opens the PNG in.
void row_to_rgb(const uint8_t* in, const Decoded& d, uint8_t* out) {
  const int bytes = d.bit_depth == 16 ? 2 : 1, step = d.channels * bytes;
  const int gray_scale = d.bit_depth < 8 ? 255 / ((1 << d.bit_depth) - 1) : 1;  // PIL's "1", "L;2", "L;4"
  for (int64_t x = 0; x < d.image.width; ++x, in += step, out += 3) {
    if (d.color_type == PNG_COLOR_TYPE_PALETTE) {
      std::memcpy(out, &d.palette[in[0] * 3], 3);  // tRNS ignored: convert("RGB") drops transparency
    } else if (d.color_type == PNG_COLOR_TYPE_GRAY) {
      // 16-bit grey is PIL's "I;16", which decode_rgb rounds to v / 257 (never a tie).
      const int v = bytes == 2 ? ((in[0] << 8 | in[1]) + 128) / 257 : in[0] * gray_scale;
      out[0] = out[1] = out[2] = static_cast<uint8_t>(v);
    } else {
      // Grey+alpha, RGB, RGBA: alpha dropped, not composited. At 16 bits PIL keeps each
      // sample's high byte (rawmodes "LA;16B", "RGB;16B", "RGBA;16B"): truncation, not rounding.
      const bool gray = d.color_type == PNG_COLOR_TYPE_GRAY_ALPHA;
      for (int c = 0; c < 3; ++c) out[c] = in[(gray ? 0 : c) * bytes];
    }
  }
}

// Decodes into *d or returns false with libpng's message in src->message; with `pixels`
// false, reads every row (inflating and unfiltering it, CRCs checked) but converts none.
// Only trivially destructible locals live in this frame, because on_error longjmps back into it.
bool decode(Source* src, int64_t max_pixels, bool pixels, Decoded* d) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, src, on_error, on_warning);
  if (png == nullptr) throw std::bad_alloc();
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw std::bad_alloc();
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  try {  // C++ allocations below may throw; libpng errors longjmp past this block, skipping no destructors
    png_set_read_fn(png, src, on_read);
    // A damaged ancillary chunk (it may be the eXIf) is an error: PIL refuses those files too.
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    // eXIf kept raw, as an unknown chunk: libpng's own handler drops one whose TIFF data
    // follows an "Exif\0\0" prefix and keeps the first of several; PIL reads those and the last.
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_ALWAYS, reinterpret_cast<png_const_bytep>("eXIf"), 1);
    png_read_info(png, info);
    Image& img = d->image;
    img.width = png_get_image_width(png, info);
    img.height = png_get_image_height(png, info);
    check_pixel_count(img.width, img.height, max_pixels);
    d->color_type = png_get_color_type(png, info);
    d->bit_depth = png_get_bit_depth(png, info);
    d->channels = png_get_channels(png, info);
    png_colorp palette;
    int n_palette = 0;
    if (png_get_PLTE(png, info, &palette, &n_palette) != 0)
      for (int i = 0; i < n_palette && i < 256; ++i) {
        uint8_t* entry = &d->palette[i * 3];
        entry[0] = palette[i].red, entry[1] = palette[i].green, entry[2] = palette[i].blue;
      }
    png_set_packing(png);
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const size_t row_bytes = png_get_rowbytes(png, info), stride = static_cast<size_t>(img.width) * 3;
    const bool whole = pixels && passes > 1;  // each Adam7 pass adds pixels to the rows of the earlier ones
    d->rows.resize(row_bytes * (whole ? img.height : 1));
    if (pixels) img.rgb.resize(stride * img.height);
    for (int pass = 0; pass < passes; ++pass) {
      for (int64_t y = 0; y < img.height; ++y) {
        png_bytep row = d->rows.data() + (whole ? y * row_bytes : 0);
        png_read_row(png, row, nullptr);
        if (pixels && pass == passes - 1) row_to_rgb(row, *d, img.rgb.data() + y * stride);
      }
    }
    png_read_end(png, info);  // eXIf chunks may also follow the pixels
    png_unknown_chunkp chunks = nullptr;
    for (int i = png_get_unknown_chunks(png, info, &chunks); i-- > 0;) {  // the last eXIf
      if (std::memcmp(chunks[i].name, "eXIf", 4) != 0) continue;
      const uint8_t* data = chunks[i].data;
      if (chunks[i].size < 6 || std::memcmp(data, "Exif\0\0", 6) != 0) d->exif.assign({'E', 'x', 'i', 'f', 0, 0});
      d->exif.insert(d->exif.end(), data, data + chunks[i].size);
      break;
    }
  } catch (...) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw;
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// decode() with libpng's errors as std::runtime_error.
Decoded run(const std::vector<uint8_t>& bytes, int64_t max_pixels, bool pixels) {
  check_png_text(bytes);
  Source src{bytes.data(), bytes.size()};
  Decoded d;
  try {
    if (!decode(&src, max_pixels, pixels, &d))
      throw std::runtime_error(std::string("corrupt PNG (libpng: ") + src.message + ")");
  } catch (const std::bad_alloc&) {
    throw std::runtime_error("out of memory decoding the PNG");
  }
  return d;
}

}  // namespace

Image decode_png(const std::vector<uint8_t>& bytes, int64_t max_pixels) {
  Decoded d = run(bytes, max_pixels, true);
  return upright(std::move(d.image), d.exif);
}

void verify_png(const std::vector<uint8_t>& bytes, int64_t max_pixels) { run(bytes, max_pixels, false); }

}  // namespace fastkp::infer::detail
