#include "boxes_file.h"

#include <charconv>
#include <fstream>
#include <stdexcept>

#include "../fields.h"
#include "../json.h"
#include "fastkp/infer/error.h"

namespace fastkp::infer::cli {
namespace {

// One line of a --boxes file.
Job parse_job(const json::Value& line) {
  using Type = json::Value::Type;
  Fields f(line);
  Job job{f.text("image"), {}};
  // A path cannot hold a NUL: the name would be cut there (json::parse has checked the UTF-8).
  if (job.image.find('\0') != std::string::npos) f.fail("image", "holds a NUL byte");
  const auto& boxes = f.get("boxes", Type::Array);
  if (boxes.items.empty()) f.fail("boxes", "is empty");
  if (boxes.items.size() > kMaxBoxesPerLine)
    f.fail("boxes", "has " + std::to_string(boxes.items.size()) + " boxes, at most " +
                        std::to_string(kMaxBoxesPerLine) + " per line");
  for (const auto& item : boxes.items) {
    Box box{};
    bool ok = item.type == Type::Array && item.items.size() == box.size();
    for (size_t k = 0; ok && k < box.size(); ++k) {
      ok = item.items[k].type == Type::Number;
      box[k] = static_cast<float>(item.items[k].number);
    }
    if (!ok || !valid_box(box))
      f.fail("boxes", "item " + std::to_string(job.boxes.size()) +
                          " is not [x0, y0, x1, y1]: four finite numbers with x1 > x0 and y1 > y0");
    job.boxes.push_back(box);
  }
  return job;
}

}  // namespace

Box parse_box(const std::string& text) {
  Box box{};
  const char *p = text.data(), *end = p + text.size();
  bool ok = true;
  for (size_t k = 0; ok && k < box.size(); ++k) {
    if (k > 0) ok = p != end && *p++ == ',';
    double v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    ok = ok && ec == std::errc();
    box[k] = static_cast<float>(v), p = next;
  }
  if (!ok || p != end || !valid_box(box))
    throw Error("--box needs x0,y0,x1,y1: four finite numbers with x1 > x0 and y1 > y0, got '" + text + "'");
  return box;
}

std::vector<Job> read_boxes(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw Error(file + ": cannot read the --boxes file");
  std::vector<Job> jobs;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      jobs.push_back(parse_job(json::parse(line)));
    } catch (const std::runtime_error& e) {
      throw Error(file + ":" + std::to_string(n) + ": " + e.what());
    }
  }
  if (jobs.empty()) throw Error(file + ": no image in the --boxes file");
  return jobs;
}

}  // namespace fastkp::infer::cli
