#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <vector>

#include "fastkp/infer/image.h"
#include "fastkp/infer/metadata.h"
#include "fastkp/infer/prediction.h"

namespace fastkp::infer {

// An exported model, loaded for one device. TorchScript files run with
// torch::jit, pt2 packages with torch::inductor::AOTIModelPackageLoader; the
// file's contents decide which. The fastkp operator library is linked in, so the
// fused operators the models call are registered.
class Model {
 public:
  static Model load(const std::string& path, c10::Device device = c10::Device(c10::kCPU));
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const Metadata& metadata() const;
  const std::string& path() const;
  c10::Device device() const;

  // images: uint8 (B, H, W, 3) RGB on any device; boxes: float32 (B, 4), one box per
  // image (Box), for a model with Metadata::box_crop, else undefined. Returns one
  // float32 contiguous CPU tensor per head, in Metadata::heads order, each of the shape
  // its decoder expects (keypoints (B, K, 2) in pixels of the input images,
  // probabilities (B, C), ...); Error naming the head when the model's outputs do not match.
  std::vector<at::Tensor> forward(const at::Tensor& images, const at::Tensor& boxes = {}) const;

  // A model with Metadata::box_crop takes each image's whole frame as its box.
  Prediction predict(const Image& image) const;
  // One forward pass over images of the same size.
  std::vector<Prediction> predict(const std::vector<Image>& images) const;
  // One prediction per box of the image (valid_box), for a model with Metadata::box_crop;
  // the boxes run in batches of the image repeated.
  std::vector<Prediction> predict(const Image& image, const std::vector<Box>& boxes) const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "fastkp X, torch Y, CPU kernels Z[, CUDA kernels for ...]": what this build runs with.
std::string runtime_info();

}  // namespace fastkp::infer
