#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fastkp/infer/head_decoder.h"

namespace fastkp::infer {

enum class Format { TorchScript, Pt2 };

// One output of the model, as its entry in fastkp.json's "heads" describes it.
struct HeadSpec {
  std::string name;  // letters, digits and '_'; unique within the model
  std::string kind;  // "keypoints", "multilabel", ...: which decoder reads the output
  std::shared_ptr<const HeadDecoder> decoder;  // made from the entry by the kind's decoder
};

// A model trained on box crops takes a box of each image with it (Model::forward): the
// window it samples keeps the box's centre, is (1 + margin) times its size and is then
// squashed onto the network input or padded to its aspect ratio.
struct BoxCrop {
  double margin = 0;  // 0..4
  std::string mode;  // "pad" | "squash"
};

// The record extra/fastkp.json of an exported model (see python/fastkp/export/metadata.py);
// versions 1 (one output) and 2 (a list of heads) are read, version 1 as one head.
struct Metadata {
  std::string task;  // biwi | landmarks | pascal | ...
  std::string arch;
  int64_t input_height = 0;  // network input; images of any size are resized to it inside the model
  int64_t input_width = 0;
  std::array<double, 3> mean{};
  std::array<double, 3> std{};
  std::vector<HeadSpec> heads;  // the model's outputs, in order; at least one
  std::optional<BoxCrop> box_crop;  // set: forward(images, boxes); unset: forward(images)
  std::string tta;  // "flip": the model averages its answer with its mirror image's, inside; "": none
  Format format = Format::TorchScript;
  std::string device;  // pt2: "cpu" or "cuda" (compiled for one device); TorchScript: "any"
  std::string fastkp_version;
  std::string torch_version;
};

// Reads and checks the metadata of a model file without loading the network. Model
// files are untrusted: first the archive is refused (Error naming the file and the
// entry) when an entry is absolute, climbs with "..", is a symbolic link or appears
// twice, or when several entries, or one over 1 MiB, hold fastkp.json.
Metadata read_metadata(const std::string& path);

const char* format_name(Format format);

}  // namespace fastkp::infer
