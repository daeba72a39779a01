// fastkp-infer MODEL IMAGE... [--box x0,y0,x1,y1] [--device cpu|cuda[:N]] [--threads N] [--max-pixels N] [--bench N]
// fastkp-infer MODEL --boxes FILE.jsonl [...]
//
// Prints one JSON line per image, or per box of an image for a model trained with
// boxes (the lines `python -m fastkp.predict` prints: the image's path and size, the
// box, then the fields of each of the model's heads); a file that cannot be used gets
// one line on stderr. Exit status: 0 all went well, 1 some image failed, 2 bad usage,
// no image found or an unusable model.
#include <ATen/Parallel.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../json.h"
#include "boxes_file.h"
#include "fastkp/infer.h"

namespace {

using fastkp::infer::cli::Job;

constexpr const char* kUsage =
    "usage: fastkp-infer MODEL IMAGE... [--box x0,y0,x1,y1] [--device cpu|cuda[:N]] [--threads N] [--max-pixels N]\n"
    "                    [--bench N]\n"
    "       fastkp-infer MODEL --boxes FILE.jsonl [--device ...]\n"
    "  MODEL   a TorchScript file or pt2 package written by `python -m fastkp.export`\n"
    "  IMAGE   JPEG, PNG or binary PGM/PPM files, or folders of them (searched recursively)\n"
    "  --box x0,y0,x1,y1\n"
    "                the box, in pixels, of every image for a model trained with boxes (default:\n"
    "                each image's whole frame); one line per image, with its \"box\"\n"
    "  --boxes FILE.jsonl\n"
    "                the images to run and their boxes instead of IMAGE...: one JSON object a line,\n"
    "                {\"image\": PATH, \"boxes\": [[x0, y0, x1, y1], ...]} (at most 10000 boxes); one line\n"
    "                per box\n"
    "  --device      where the model runs (default cpu)\n"
    "  --threads N   CPU threads for the model (at most the number of CPUs)\n"
    "  --min-score S keypoint heads with scores (heatmap heads): points scored below S in [0, 1]\n"
    "                print as null (DeepLabCut's pcutoff)\n"
    "  --max-pixels N\n"
    "                refuse images of more pixels, as their headers say (default: the\n"
    "                environment variable FASTKP_MAX_PIXELS, else 100000000)\n"
    "  --bench N     time N runs of one batch made of all the images (same size) after warm-up,\n"
    "                and print the timing as JSON instead of predictions\n"
    "  --version     print the fastkp, torch and kernel versions\n";

struct Args {
  std::string model;
  std::vector<std::string> images;
  std::optional<std::string> box;  // --box, as given
  std::optional<std::string> boxes;  // --boxes FILE
  std::string device = "cpu";
  int threads = 0;
  int bench = 0;
  int64_t max_pixels = 0;  // 0: fastkp::infer::pixel_limit()
  float min_score = 0.0f;  // --min-score
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

float score(const std::string& flag, const std::string& value) {
  float s = 0.0f;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
  if (ec != std::errc() || end != value.data() + value.size() || !(s >= 0.0f && s <= 1.0f))
    throw UsageError{flag + " needs a number in [0, 1], got '" + value + "'"};
  return s;
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
    else if (arg == "--box") a.box = value();
    else if (arg == "--boxes") a.boxes = value();
    else if (arg == "--threads") a.threads = static_cast<int>(positive(arg, value()));
    else if (arg == "--bench") a.bench = static_cast<int>(positive(arg, value()));
    else if (arg == "--min-score") a.min_score = score(arg, value());
    else if (arg == "--max-pixels") a.max_pixels = positive(arg, value(), std::numeric_limits<int64_t>::max());
    else if (arg.rfind("--", 0) == 0 && arg.size() > 2) throw UsageError{"unknown option " + arg};
    else positional.push_back(arg);
  }
  if (a.boxes ? positional.empty() : positional.size() < 2)
    throw UsageError{a.boxes ? "give a model" : "give a model and at least one image"};
  if (a.bench > 0 && (a.box || a.boxes)) throw UsageError{"--bench times whole frames: give no --box or --boxes"};
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

// The images to run, in order, with their boxes (errors name the option or file:line).
std::vector<Job> jobs(const Args& a) {
  if (a.box && a.boxes) throw fastkp::infer::Error("give --box or --boxes, not both");
  if (a.boxes && !a.images.empty())
    throw fastkp::infer::Error("--boxes " + *a.boxes + " names the images: give no image paths with it");
  if (a.boxes) return fastkp::infer::cli::read_boxes(*a.boxes);
  std::vector<fastkp::infer::Box> boxes;
  if (a.box) boxes.push_back(fastkp::infer::cli::parse_box(*a.box));
  std::vector<std::string> images = fastkp::infer::collect_images(a.images);
  if (images.empty())  // the folders hold no image
    throw fastkp::infer::Error("no image in " + joined(a.images) + " (looked for " +
                               joined(fastkp::infer::kImageSuffixes) + ")");
  std::vector<Job> out;
  for (std::string& image : images) out.push_back({std::move(image), boxes});
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One batch of all the images, timed over `runs` forward passes after warm-up.
void bench(const fastkp::infer::Model& model, const std::vector<Job>& jobs, int64_t max_pixels, int runs) {
  std::vector<fastkp::infer::Image> images;
  for (const Job& job : jobs) images.push_back(fastkp::infer::decode_image(job.image, max_pixels));
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
  std::vector<Job> work;
  try {
    args = parse(argc, argv);
    if (args.max_pixels == 0) args.max_pixels = fastkp::infer::pixel_limit();
    work = jobs(args);
  } catch (const UsageError& e) {
    std::cerr << "fastkp-infer: " << e.message << " (fastkp-infer --help shows the usage)\n";
    return 2;
  } catch (const fastkp::infer::Error& e) {
    std::cerr << "fastkp-infer: " << e.what() << "\n";
    return 2;
  }
  // More threads than CPUs only slows the model down, and a huge count exhausts
  // libgomp's memory: clamped, as fastkp.predict clamps its --threads.
  if (args.threads > 0)
    at::set_num_threads(std::min(args.threads, static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
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
  if (args.min_score > 0 && !fastkp::infer::has_keypoint_scores(model->metadata())) {
    std::cerr << "fastkp-infer: --min-score: " << args.model << ": the model's heads give no scores (a keypoint "
              << "model trained with --head heatmap does)\n";
    return 2;
  }
  const bool boxes_given = args.box || args.boxes;
  if (boxes_given && !model->metadata().box_crop) {
    std::cerr << "fastkp-infer: " << args.model << ": the model was trained without boxes: give no --box or --boxes\n";
    return 2;
  }
  if (!boxes_given && model->metadata().box_crop)
    std::cerr << "fastkp-infer: " << args.model << " was trained with boxes and none was given (--box, --boxes): "
              << "each image's whole frame is its box\n";
  if (args.bench > 0) {
    try {
      bench(*model, work, args.max_pixels, args.bench);
    } catch (const fastkp::infer::Error& e) {
      std::cerr << "fastkp-infer: " << e.what() << "\n";
      return 1;
    }
    return 0;
  }
  int status = 0;
  for (const Job& job : work) {
    try {
      fastkp::infer::Image image = fastkp::infer::decode_image(job.image, args.max_pixels);
      std::vector<fastkp::infer::Prediction> preds =
          job.boxes.empty() ? std::vector{model->predict(image)} : model->predict(image, job.boxes);
      for (fastkp::infer::Prediction& pred : preds) {
        fastkp::infer::blank_below(pred, args.min_score);
        std::cout << fastkp::infer::to_json(job.image, image, pred, model->metadata()) << std::endl;
      }
    } catch (const fastkp::infer::Error& e) {
      std::cerr << "fastkp-infer: " << e.what() << std::endl;
      status = 1;
    }
  }
  return status;
}
