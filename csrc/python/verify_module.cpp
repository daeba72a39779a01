// fastkp._verify: image files checked as fastkp-infer's decoders check them, without
// making pixels (fastkp::infer::verify_image), on worker threads, without the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fastkp/infer/error.h"
#include "fastkp/infer/image.h"

namespace py = pybind11;

namespace {

using Reasons = std::vector<std::optional<std::string>>;

Reasons verify_images(const std::vector<std::string>& paths, int threads, std::optional<int64_t> max_pixels) {
  if (threads < 1) throw py::value_error("threads must be a positive integer, got " + std::to_string(threads));
  if (max_pixels && *max_pixels < 1)
    throw py::value_error("max_pixels must be a positive integer, got " + std::to_string(*max_pixels));
  int64_t limit;
  try {
    limit = max_pixels ? *max_pixels : fastkp::infer::pixel_limit();
  } catch (const fastkp::infer::Error& e) {
    throw py::value_error(e.what());
  }
  Reasons reasons(paths.size());
  py::gil_scoped_release release;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < paths.size();) {
      try {
        fastkp::infer::verify_image(paths[i], limit);
      } catch (const fastkp::infer::Error& e) {  // "PATH: why"
        reasons[i] = e.what();
      } catch (const std::exception& e) {  // out of memory reading the file
        reasons[i] = paths[i] + ": " + e.what();
      }
    }
  };
  {
    std::vector<std::jthread> workers;  // joined when the block ends
    for (size_t t = 1; t < std::min<size_t>(threads, paths.size()); ++t) workers.emplace_back(work);
    work();
  }
  return reasons;
}

}  // namespace

PYBIND11_MODULE(_verify, m) {
  m.doc() = "Image files checked as fastkp-infer's decoders check them, without decoding pixels.";
  m.attr("DEFAULT_MAX_PIXELS") = fastkp::infer::kDefaultMaxPixels;
  m.def("verify_images", &verify_images, py::arg("paths"), py::arg("threads"), py::kw_only(),
        py::arg("max_pixels") = py::none(),
        R"doc(One entry per path, in order: None when the file is a usable image, else one line
"PATH: why" in the words of fastkp-infer's decoders (e.g. "corrupt JPEG (libjpeg:
Corrupt JPEG data: premature end of data segment)", "image too large (13000x13000,
more than 100000000 pixels)", "not a JPEG, PNG or binary PGM/PPM image ...", "no such
image file"). JPEG: header and all entropy-coded data read by libjpeg-turbo without
the IDCT, its corrupt-data warnings counted as errors; PNG: every row inflated and
unfiltered by libpng, CRCs checked; PGM/PPM: header and size. An image whose header
claims more than max_pixels pixels (default: FASTKP_MAX_PIXELS, else
DEFAULT_MAX_PIXELS) is refused before its data is read. Runs on `threads` threads
(the calling one included) with the GIL released. ValueError for threads < 1,
max_pixels < 1 or a bad FASTKP_MAX_PIXELS.)doc");
}
