// Head kind "values": (B, D) named values in their original units.
#include "fastkp/infer/heads/values.h"

#include <set>

#include "../fields.h"
#include "../json.h"
#include "fastkp/infer/error.h"

namespace fastkp::infer {

std::shared_ptr<const HeadDecoder> parse_values_head(const Fields& entry) {
  std::vector<std::string> names = entry.texts(entry.get("names", json::Value::Type::Array), "names");
  if (names.empty()) entry.fail("names", "is empty");
  if (std::set(names.begin(), names.end()).size() != names.size()) entry.fail("names", "repeats a name");
  std::vector<double> mean = entry.numbers("mean", names.size()), std_dev = entry.numbers("std", names.size());
  for (double s : std_dev)
    if (!(s > 0)) entry.fail("std", "holds a number that is not positive");
  return std::make_shared<ValuesDecoder>(std::move(names), std::move(mean), std::move(std_dev));
}

ValuesDecoder::ValuesDecoder(std::vector<std::string> names, std::vector<double> mean, std::vector<double> std_dev)
    : names_(std::move(names)), mean_(std::move(mean)), std_dev_(std::move(std_dev)) {}

std::vector<int64_t> ValuesDecoder::row_shape() const { return {static_cast<int64_t>(names_.size())}; }

std::vector<JsonField> ValuesDecoder::json_fields(std::span<const float> row) const {
  std::string s = "{";
  for (size_t k = 0; k < row.size() && k < names_.size(); ++k)
    s += (k ? ", " : "") + json::quote(names_[k]) + ": " + json::number(row[k]);
  return {{"values", s + "}"}};
}

std::map<std::string, float> values(const Prediction& prediction, const std::string& head) {
  const HeadOutput& out = prediction.find("values", head);
  auto* decoder = dynamic_cast<const ValuesDecoder*>(out.decoder.get());
  if (decoder == nullptr) throw Error("head '" + out.name + "' has no values decoder");
  std::map<std::string, float> by_name;
  for (size_t k = 0; k < out.values.size() && k < decoder->names().size(); ++k)
    by_name[decoder->names()[k]] = out.values[k];
  return by_name;
}

}  // namespace fastkp::infer
