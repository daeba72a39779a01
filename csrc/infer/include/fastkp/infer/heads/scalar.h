// Head kind "scalar": one number per image (an age).
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fastkp/infer/head_decoder.h"
#include "fastkp/infer/prediction.h"

namespace fastkp::infer {

// Output float32 (B,): the value, in y_range. JSON: "<head name>": v.
// fastkp.json entry: "y_range": [lo, hi] with lo < hi, optional "unit": string (default "").
class ScalarDecoder : public HeadDecoder {
 public:
  ScalarDecoder(std::string name, std::pair<double, double> y_range, std::string unit);

  std::pair<double, double> y_range() const { return y_range_; }
  const std::string& unit() const { return unit_; }  // e.g. "years"; may be empty

  std::vector<int64_t> row_shape() const override;
  std::vector<JsonField> json_fields(std::span<const float> row) const override;

 private:
  std::string name_;  // the head's: the JSON key
  std::pair<double, double> y_range_;
  std::string unit_;
};

// The value of the scalar head named `head` (empty: the first scalar head).
float scalar(const Prediction& prediction, const std::string& head = "");

}  // namespace fastkp::infer
