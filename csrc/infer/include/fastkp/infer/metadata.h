#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fastkp::infer {

enum class Format { TorchScript, Pt2 };

// The record extra/fastkp.json of an exported model (see python/fastkp/export/metadata.py).
struct Metadata {
  std::string task;  // biwi | landmarks | pascal
  std::string arch;
  int64_t input_height = 0;  // network input; images of any size are resized to it inside the model
  int64_t input_width = 0;
  std::array<double, 3> mean{};
  std::array<double, 3> std{};
  std::string output;  // "keypoints": (B, K, 2) pixels of the input image; "probabilities": (B, C)
  int64_t n_keypoints = 0;  // keypoint models
  std::optional<std::pair<double, double>> y_range;  // keypoint models: range of the normalised output
  std::vector<std::string> vocab;  // classifiers: one label per output
  double threshold = 0.5;  // classifiers: a label is predicted when its probability is above it
  Format format = Format::TorchScript;
  std::string device;  // pt2: "cpu" or "cuda" (compiled for one device); TorchScript: "any"
  std::string fastkp_version;
  std::string torch_version;

  bool keypoints() const { return output == "keypoints"; }
};

// Reads and checks the metadata of a model file without loading the network.
Metadata read_metadata(const std::string& path);

const char* format_name(Format format);

}  // namespace fastkp::infer
