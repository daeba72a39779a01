// Head kind "scalar": (B,) values, one per image.
#include "fastkp/infer/heads/scalar.h"

#include "../fields.h"
#include "../json.h"

namespace fastkp::infer {

std::shared_ptr<const HeadDecoder> parse_scalar_head(const Fields& entry) {
  std::vector<double> y = entry.numbers("y_range", 2);
  if (!(y[0] < y[1])) entry.fail("y_range", "is not [lo, hi] with lo < hi");
  const json::Value* unit = entry.optional("unit", json::Value::Type::String);
  return std::make_shared<ScalarDecoder>(entry.text("name"), std::make_pair(y[0], y[1]), unit ? unit->string : "");
}

ScalarDecoder::ScalarDecoder(std::string name, std::pair<double, double> y_range, std::string unit)
    : name_(std::move(name)), y_range_(y_range), unit_(std::move(unit)) {}

std::vector<int64_t> ScalarDecoder::row_shape() const { return {}; }

std::vector<JsonField> ScalarDecoder::json_fields(std::span<const float> row) const {
  return {{name_, json::number(row[0])}};
}

float scalar(const Prediction& prediction, const std::string& head) {
  return prediction.find("scalar", head).values.at(0);
}

}  // namespace fastkp::infer
