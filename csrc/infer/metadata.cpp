// extra/fastkp.json, read from the zip archive of either export format.
#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <string>

#include "archive.h"
#include "fastkp/infer/error.h"
#include "fastkp/infer/metadata.h"
#include "fields.h"
#include "heads/registry.h"
#include "json.h"
#include "messages.h"

namespace fastkp::infer {
namespace {

constexpr const char* kRecord = "extra/fastkp.json";
constexpr const char* kMarker = "fastkp-model";
constexpr const char* kNotExported = " (a checkpoint? export it with python -m fastkp.export)";

// An ONNX model is a protobuf whose first field (ir_version, field 1, varint) starts with 0x08;
// a zip archive starts with "PK".
bool looks_like_onnx(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char first[2] = {0, 0};
  in.read(first, 2);
  if (in.gcount() == 2 && first[0] == 'P' && first[1] == 'K') return false;
  return first[0] == 0x08 || std::filesystem::path(path).extension() == ".onnx";
}

bool valid_head_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

HeadSpec parse_head(const json::Value& entry, size_t index) {
  Fields f(entry, "heads[" + std::to_string(index) + "]: ");
  HeadSpec head;
  head.name = f.text("name");
  if (!valid_head_name(head.name))
    f.fail("name", "'" + head.name + "' is not a head name (letters, digits and _ only)");
  head.kind = f.text("kind");
  head.decoder = make_head_decoder(head.name, head.kind, Fields(entry, "head '" + head.name + "': "));
  return head;
}

std::vector<HeadSpec> parse_heads(const json::Value& entries) {
  if (entries.items.empty()) throw std::runtime_error("field 'heads' is empty");
  std::vector<HeadSpec> heads;
  for (const json::Value& entry : entries.items) {
    HeadSpec head = parse_head(entry, heads.size());
    for (const HeadSpec& other : heads)
      if (other.name == head.name) throw std::runtime_error("two heads are named '" + head.name + "'");
    heads.push_back(std::move(head));
  }
  return heads;
}

json::Value text_value(const std::string& text) {
  json::Value v;
  v.type = json::Value::Type::String;
  v.string = text;
  return v;
}

// Version 1 described one output at the top level: as the "heads" list of version 2.
json::Value heads_of_version_1(const Fields& f) {
  std::string output = f.text("output");
  std::string name, kind;
  std::array<const char*, 2> keys{};
  if (output == "keypoints") name = "keypoints", kind = "keypoints", keys = {"n_keypoints", "y_range"};
  else if (output == "probabilities") name = "labels", kind = "multilabel", keys = {"vocab", "threshold"};
  else throw std::runtime_error("field 'output' is neither keypoints nor probabilities");
  json::Value head;
  head.type = json::Value::Type::Object;
  head.keys = {"name", "kind"};
  head.items = {text_value(name), text_value(kind)};
  for (const char* key : keys) {
    if (const json::Value* v = f.object().find(key)) head.keys.push_back(key), head.items.push_back(*v);
  }
  json::Value heads;
  heads.type = json::Value::Type::Array;
  heads.items.push_back(std::move(head));
  return heads;
}

// "box_crop": null or absent (the model takes images only), or {"margin", "mode"}.
std::optional<BoxCrop> parse_box_crop(const Fields& f) {
  const json::Value* entry = f.optional("box_crop", json::Value::Type::Object);
  if (entry == nullptr) return std::nullopt;
  Fields crop(*entry, "box_crop: ");
  BoxCrop c;
  c.margin = crop.number("margin");
  if (c.margin < 0 || c.margin > 4) crop.fail("margin", "is not in [0, 4]");
  c.mode = crop.text("mode");
  if (c.mode != "pad" && c.mode != "squash")
    throw Unsupported("box_crop: field 'mode' is '" + c.mode +
                      "', which this fastkp-infer does not know (pad or squash)");
  return c;
}

Metadata parse_metadata(const json::Value& root) {
  if (root.type != json::Value::Type::Object) throw std::runtime_error("not a JSON object");
  Fields f(root);
  const json::Value* marker = root.find("format");
  if (marker == nullptr || marker->type != json::Value::Type::String || marker->string != kMarker)
    throw std::runtime_error(std::string("no '") + kMarker + "' marker: not a fastkp model");
  double version = f.number("version");
  if (version != 1 && version != 2)
    throw Unsupported("fastkp model version " + json::number(static_cast<float>(version)) +
                      " is not supported (this fastkp-infer reads versions 1 and 2)");
  Metadata m;
  m.task = f.text("task");
  m.arch = f.text("arch");
  const json::Value& size = f.get("input_size", json::Value::Type::Array);
  if (size.items.size() != 2) f.fail("input_size", "has the wrong length");
  m.input_height = f.positive_int(size.items[0], "input_size");
  m.input_width = f.positive_int(size.items[1], "input_size");
  auto mean = f.numbers("mean", 3), std = f.numbers("std", 3);
  for (int c = 0; c < 3; ++c) m.mean[c] = mean[c], m.std[c] = std[c];
  m.heads = parse_heads(version == 1 ? heads_of_version_1(f) : f.get("heads", json::Value::Type::Array));
  m.box_crop = parse_box_crop(f);
  if (const json::Value* tta = f.optional("tta", json::Value::Type::String)) {
    if (tta->string != "flip")
      throw Unsupported("field 'tta' is '" + tta->string + "', which this fastkp-infer does not know (flip)");
    m.tta = tta->string;
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
  if (looks_like_onnx(path))
    throw Error(path + ": an ONNX model; fastkp-infer runs TorchScript and pt2 files: run ONNX models with "
                "onnxruntime (python -m fastkp.predict does)");
  check_archive(path, kRecord);
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
  } catch (const Unsupported& e) {
    throw Error(path + ": " + e.what());
  } catch (const std::runtime_error& e) {
    throw Error(path + ": fastkp.json is damaged or foreign (" + e.what() + ")");
  }
  if (m.format != kind)
    throw Error(path + ": fastkp.json says " + format_name(m.format) + " but the file is a " + format_name(kind) +
                " archive");
  return m;
}

}  // namespace fastkp::infer
