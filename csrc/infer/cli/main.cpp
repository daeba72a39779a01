// fastkp-infer MODEL IMAGE... [--device cpu|cuda[:N]] [--threads N] [--max-pixels N] [--bench N]
//
// Prints one JSON line per image (the lines `python -m fastkp.predict` prints:
// the image's path and size, then the fields of each of the model's heads); a
// file that cannot be used gets one line on stderr. Exit status: 0 all went
// well, 1 some image failed, 2 bad usage, no image found or an unusable model.
#include <ATen/Parallel.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "../json.h"
#include "fastkp/infer.h"

namespace {

constexpr const char* kUsage =
    "usage: fastkp-infer MODEL IMAGE... [--device cpu|cuda[:N]] [--threads N] [--max-pixels N] [--bench N]\n"
    "  MODEL   a TorchScript file or pt2 package written by `python -m fastkp.export`\n"
    "  IMAGE   JPEG, PNG or binary PGM/PPM files, or folders of them (searched recursively)\n"
    "  --device      where the model runs (default cpu)\n"
    "  --threads N   CPU threads for the model\n"
    "  --max-pixels N\n"
    "                refuse images of more pixels, as their headers say (default: the\n"
    "                environment variable FASTKP_MAX_PIXELS, else 100000000)\n"
    "  --bench N     time N runs of one batch made of all the images (same size) after warm-up,\n"
    "                and print the timing as JSON instead of predictions\n"
    "  --version     print the fastkp, torch and kernel versions\n";

struct Args {
  std::string model;
  std::vector<std::string> images;
  std::string device = "cpu";
  int threads = 0;
  int bench = 0;
  int64_t max_pixels = 0;  // 0: fastkp::infer::pixel_limit()
};

struct UsageError {
  std::string message;
};

int64_t positive(const std::string& flag, const std::string& value,
                 int64_t most = std::numeric_limits<int>::max()) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > most)
    throw UsageError{flag + " needs a positive integer, got '" + value + "'"};
  return n;
}

Args parse(int argc, char** argv) {
  Args a;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError{arg + " needs a value"};
      return argv[++i];
    };
    if (arg == "--device") a.device = value();
    else if (arg == "--threads") a.threads = static_cast<int>(positive(arg, value()));
    else if (arg == "--bench") a.bench = static_cast<int>(positive(arg, value()));
    else if (arg == "--max-pixels") a.max_pixels = positive(arg, value(), std::numeric_limits<int64_t>::max());
    else if (arg.rfind("--", 0) == 0 && arg.size() > 2) throw UsageError{"unknown option " + arg};
    else positional.push_back(arg);
  }
  if (positional.size() < 2) throw UsageError{"give a model and at least one image"};
  a.model = positional[0];
  a.images.assign(positional.begin() + 1, positional.end());
  return a;
}

template <typename Strings>
std::string joined(const Strings& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ' ';
    out += item;
  }
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One batch of all the images, timed over `runs` forward passes after warm-up.
void bench(const fastkp::infer::Model& model, const std::vector<std::string>& paths, int64_t max_pixels, int runs) {
  std::vector<fastkp::infer::Image> images;
  for (const auto& p : paths) images.push_back(fastkp::infer::decode_image(p, max_pixels));
  for (int i = 0; i < 3; ++i) model.predict(images);  // TorchScript optimises during its first runs
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    model.predict(images);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  double med = median(ms), mean = std::accumulate(ms.begin(), ms.end(), 0.0) / runs;
  std::cout << "{\"bench\": {\"model\": " << fastkp::infer::json::quote(model.path())
            << ", \"format\": \"" << fastkp::infer::format_name(model.metadata().format) << "\", \"device\": \""
            << model.device().str() << "\", \"threads\": " << at::get_num_threads() << ", \"batch\": "
            << images.size() << ", \"height\": " << images[0].height << ", \"width\": " << images[0].width
            << ", \"runs\": " << runs << ", \"median_ms\": " << med << ", \"mean_ms\": " << mean
            << ", \"min_ms\": " << *std::min_element(ms.begin(), ms.end())
            << ", \"images_per_s\": " << images.size() * 1000.0 / med << "}}" << std::endl;
}

// glibc hands large freed blocks back to the kernel, so every forward pass would
// fault its activations in again (10-20 % of the pass here): keep them for reuse.
void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);  // large blocks from the heap, not from fresh mappings
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());  // and the heap is not shrunk
#endif
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return std::cout << kUsage, 0;
    if (arg == "--version") return std::cout << fastkp::infer::runtime_info() << "\n", 0;
  }
  Args args;
  std::vector<std::string> images;
  try {
    args = parse(argc, argv);
    if (args.max_pixels == 0) args.max_pixels = fastkp::infer::pixel_limit();
    images = fastkp::infer::collect_images(args.images);
    if (images.empty())  // the folders hold no image
      throw fastkp::infer::Error("no image in " + joined(args.images) + " (looked for " +
                                 joined(fastkp::infer::kImageSuffixes) + ")");
  } catch (const UsageError& e) {
    std::cerr << "fastkp-infer: " << e.message << "\n" << kUsage;
    return 2;
  } catch (const fastkp::infer::Error& e) {
    std::cerr << "fastkp-infer: " << e.what() << "\n";
    return 2;
  }
  if (args.threads > 0) at::set_num_threads(args.threads);
  std::optional<fastkp::infer::Model> model;
  try {
    model.emplace(fastkp::infer::Model::load(args.model, c10::Device(args.device)));
  } catch (const fastkp::infer::Error& e) {
    std::cerr << "fastkp-infer: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {  // an unparsable --device
    std::cerr << "fastkp-infer: --device " << args.device << ": " << e.what_without_backtrace() << "\n";
    return 2;
  }
  if (args.bench > 0) {
    try {
      bench(*model, images, args.max_pixels, args.bench);
    } catch (const fastkp::infer::Error& e) {
      std::cerr << "fastkp-infer: " << e.what() << "\n";
      return 1;
    }
    return 0;
  }
  int status = 0;
  for (const auto& path : images) {
    try {
      fastkp::infer::Image image = fastkp::infer::decode_image(path, args.max_pixels);
      fastkp::infer::Prediction pred = model->predict(image);
      std::cout << fastkp::infer::to_json(path, image, pred, model->metadata()) << std::endl;
    } catch (const fastkp::infer::Error& e) {
      std::cerr << "fastkp-infer: " << e.what() << std::endl;
      status = 1;
    }
  }
  return status;
}
