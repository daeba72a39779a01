// fastkp-infer's box arguments: --box x0,y0,x1,y1 and the lines of --boxes FILE.jsonl.
#pragma once

#include <string>
#include <vector>

#include "fastkp/infer/prediction.h"

namespace fastkp::infer::cli {

// The boxes a --boxes line may give one image (fastkp.predict's MAX_BOXES_PER_LINE): each
// runs the model once, so a line of 200,000 ran for minutes.
inline constexpr size_t kMaxBoxesPerLine = 10'000;

// An image to run, with the boxes to crop from it (none: the model's default).
struct Job {
  std::string image;
  std::vector<Box> boxes;
};

// --box x0,y0,x1,y1; Error quoting `text` unless valid_box.
Box parse_box(const std::string& text);

// The jobs of --boxes FILE, in file order; blank lines are skipped. Each line is
// {"image": PATH, "boxes": [[x0, y0, x1, y1], ...]} (other keys ignored) with a PATH of
// UTF-8 text without NUL and 1..kMaxBoxesPerLine valid boxes; Error "FILE:LINE: why" otherwise.
std::vector<Job> read_boxes(const std::string& file);

}  // namespace fastkp::infer::cli
