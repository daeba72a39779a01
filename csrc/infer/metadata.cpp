// extra/fastkp.json, read from the zip archive of either export format.
#include <caffe2/serialize/inline_container.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "fastkp/infer/error.h"
#include "fastkp/infer/metadata.h"
#include "json.h"
#include "messages.h"

namespace fastkp::infer {
namespace {

constexpr const char* kRecord = "extra/fastkp.json";
constexpr const char* kMarker = "fastkp-model";
constexpr int kVersion = 1;
constexpr const char* kNotExported = " (a checkpoint? export it with python -m fastkp.export)";

// Throws std::runtime_error naming the field; read_metadata adds the path.
class Fields {
 public:
  explicit Fields(const json::Value& root) : root_(root) {}

  const json::Value& get(const char* key, json::Value::Type type, bool nullable = false) const {
    const json::Value* v = root_.find(key);
    if (v == nullptr) throw std::runtime_error(std::string("no field '") + key + "'");
    if (v->type != type && !(nullable && v->type == json::Value::Type::Null))
      throw std::runtime_error(std::string("field '") + key + "' has the wrong type");
    return *v;
  }
  std::string text(const char* key) const { return get(key, json::Value::Type::String).string; }
  bool is_null(const char* key) const { return get(key, json::Value::Type::Null, true).type == json::Value::Type::Null; }

  std::vector<double> numbers(const char* key, size_t n) const {
    const json::Value& v = get(key, json::Value::Type::Array);
    if (v.items.size() != n) throw std::runtime_error(std::string("field '") + key + "' has the wrong length");
    std::vector<double> out;
    for (const auto& item : v.items) {
      if (item.type != json::Value::Type::Number)
        throw std::runtime_error(std::string("field '") + key + "' holds a non-number");
      out.push_back(item.number);
    }
    return out;
  }

  int64_t positive_int(const json::Value& v, const char* key) const {
    if (v.type != json::Value::Type::Number || v.number < 1 || v.number != std::floor(v.number) || v.number > 1e9)
      throw std::runtime_error(std::string("field '") + key + "' is not a positive integer");
    return static_cast<int64_t>(v.number);
  }

 private:
  const json::Value& root_;
};

Metadata parse_metadata(const json::Value& root) {
  if (root.type != json::Value::Type::Object) throw std::runtime_error("not a JSON object");
  Fields f(root);
  const json::Value* marker = root.find("format");
  if (marker == nullptr || marker->type != json::Value::Type::String || marker->string != kMarker)
    throw std::runtime_error(std::string("no '") + kMarker + "' marker: not a fastkp model");
  const json::Value& version = f.get("version", json::Value::Type::Number);
  if (version.number != kVersion)
    throw std::runtime_error("fastkp model version " + json::number(static_cast<float>(version.number)) +
                             " is not supported (this fastkp-infer reads version " + std::to_string(kVersion) + ")");
  Metadata m;
  m.task = f.text("task");
  m.arch = f.text("arch");
  const json::Value& size = f.get("input_size", json::Value::Type::Array);
  if (size.items.size() != 2) throw std::runtime_error("field 'input_size' has the wrong length");
  m.input_height = f.positive_int(size.items[0], "input_size");
  m.input_width = f.positive_int(size.items[1], "input_size");
  auto mean = f.numbers("mean", 3), std = f.numbers("std", 3);
  for (int c = 0; c < 3; ++c) m.mean[c] = mean[c], m.std[c] = std[c];
  m.output = f.text("output");
  if (m.keypoints()) {
    m.n_keypoints = f.positive_int(f.get("n_keypoints", json::Value::Type::Number), "n_keypoints");
    auto y = f.numbers("y_range", 2);
    m.y_range = std::make_pair(y[0], y[1]);
  } else if (m.output == "probabilities") {
    for (const auto& label : f.get("vocab", json::Value::Type::Array).items) {
      if (label.type != json::Value::Type::String) throw std::runtime_error("field 'vocab' holds a non-string");
      m.vocab.push_back(label.string);
    }
    if (m.vocab.empty()) throw std::runtime_error("field 'vocab' is empty");
    m.threshold = f.get("threshold", json::Value::Type::Number).number;
  } else {
    throw std::runtime_error("field 'output' is neither keypoints nor probabilities");
  }
  std::string format = f.text("export_format");
  if (format == "torchscript") m.format = Format::TorchScript;
  else if (format == "pt2") m.format = Format::Pt2;
  else throw std::runtime_error("unknown export_format '" + format + "'");
  m.device = f.text("device");
  m.fastkp_version = f.text("fastkp_version");
  m.torch_version = f.text("torch_version");
  return m;
}

std::string read_record(caffe2::serialize::PyTorchStreamReader& reader, const std::string& name) {
  auto [data, size] = reader.getRecord(name);
  return std::string(static_cast<const char*>(data.get()), size);
}

}  // namespace

const char* format_name(Format format) { return format == Format::Pt2 ? "pt2" : "torchscript"; }

Metadata read_metadata(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": no such model file");
  std::string text;
  Format kind;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (reader.hasRecord("archive_format") && read_record(reader, "archive_format") == "pt2") kind = Format::Pt2;
    else if (reader.hasRecord("constants.pkl")) kind = Format::TorchScript;
    else throw Error(path + ": not a TorchScript file or pt2 package" + kNotExported);
    if (!reader.hasRecord(kRecord))
      throw Error(path + ": a " + format_name(kind) + " file without " + kRecord + ": not exported by fastkp.export");
    text = read_record(reader, kRecord);
  } catch (const c10::Error& e) {
    throw Error(path + ": not a fastkp model file (" + first_line(e.what_without_backtrace()) + ")");
  }
  Metadata m;
  try {
    m = parse_metadata(json::parse(text));
  } catch (const std::runtime_error& e) {
    throw Error(path + ": fastkp.json is damaged or foreign (" + e.what() + ")");
  }
  if (m.format != kind)
    throw Error(path + ": fastkp.json says " + format_name(m.format) + " but the file is a " + format_name(kind) +
                " archive");
  return m;
}

}  // namespace fastkp::infer
