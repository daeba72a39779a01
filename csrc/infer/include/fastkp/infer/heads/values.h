// Head kind "values": D named numbers per image (a regression).
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "fastkp/infer/head_decoder.h"
#include "fastkp/infer/prediction.h"

namespace fastkp::infer {

// Output float32 (B, D): one value per name, in the original units (the exported model
// undoes the standardisation it was trained with). JSON: "values": {"name": v, ...}, in
// names order.
// fastkp.json entry: "names": [D distinct strings], "mean": [D numbers], "std": [D positive numbers].
class ValuesDecoder : public HeadDecoder {
 public:
  ValuesDecoder(std::vector<std::string> names, std::vector<double> mean, std::vector<double> std_dev);

  const std::vector<std::string>& names() const { return names_; }
  // The training targets' mean and standard deviation of each value.
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& std_dev() const { return std_dev_; }

  std::vector<int64_t> row_shape() const override;
  std::vector<JsonField> json_fields(std::span<const float> row) const override;

 private:
  std::vector<std::string> names_;
  std::vector<double> mean_, std_dev_;
};

// The values of the values head named `head` (empty: the first values head), by name.
std::map<std::string, float> values(const Prediction& prediction, const std::string& head = "");

}  // namespace fastkp::infer
