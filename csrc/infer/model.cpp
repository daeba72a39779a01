// Model: TorchScript through torch::jit, pt2 through AOTIModelPackageLoader.
#include "fastkp/infer/model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/cuda.h>
#include <torch/headeronly/version.h>
#include <torch/script.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "extraction_folder.h"
#include "fastkp/infer/error.h"
#include "json.h"
#include "messages.h"
#include "sampled_frame.h"
#include "shared_libraries.h"
#include "ops/build_info.h"

namespace fastkp::infer {

struct Model::Impl {
  std::string path;
  Metadata metadata;
  c10::Device device{c10::kCPU};
  std::optional<torch::jit::Module> script;
  std::optional<ExtractionFolder> extraction;  // declared before the package: removed after it
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> package;
};

namespace {

void check_device(const std::string& path, const Metadata& m, c10::Device device) {
  if (!device.is_cpu() && !device.is_cuda()) throw Error(path + ": device " + device.str() + " is not supported");
  if (device.is_cuda() && !torch::cuda::is_available())
    throw Error(path + ": device " + device.str() + " asked for, but no CUDA device is available");
  if (m.format == Format::Pt2 && m.device != c10::DeviceTypeName(device.type(), /*lower_case=*/true))
    throw Error(path + ": this pt2 package was compiled for " + m.device + ", not " + device.str() +
                "; export it again with --device " + c10::DeviceTypeName(device.type(), true));
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& path, c10::Device device) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->metadata = read_metadata(path);
  impl->device = device;
  check_device(path, impl->metadata, device);
  if (impl->metadata.format == Format::Pt2) check_shared_libraries(path);
  try {
    if (impl->metadata.format == Format::Pt2) {
      impl->extraction.emplace();  // a failed load unwinds impl, which removes it
      impl->extraction->with_tmpdir([&] {
        impl->package = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
            path, "model", /*run_single_threaded=*/false, /*num_runners=*/1, device.is_cuda() ? device.index() : -1);
      });
    } else {
      impl->script = torch::jit::load(path, device);
      impl->script->eval();
    }
  } catch (const c10::Error& e) {
    throw Error(path + ": cannot load the " + format_name(impl->metadata.format) + " model (" +
                first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {  // the package loader also throws std::runtime_error
    throw Error(path + ": cannot load the " + format_name(impl->metadata.format) + " model (" + first_line(e.what()) +
                ")");
  }
  return Model(std::move(impl));
}

const Metadata& Model::metadata() const { return impl_->metadata; }
const std::string& Model::path() const { return impl_->path; }
c10::Device Model::device() const { return impl_->device; }

namespace {

// What TorchScript's forward returned: a tensor, or a tuple or list of them.
std::vector<at::Tensor> tensors(const c10::IValue& value) {
  if (value.isTensor()) return {value.toTensor()};
  std::vector<c10::IValue> items;
  if (value.isTuple()) items = value.toTupleRef().elements().vec();
  else if (value.isList()) items = value.toListRef().vec();
  else throw std::runtime_error("it returned a " + value.tagKind() + ", not tensors");
  std::vector<at::Tensor> out;
  for (const c10::IValue& item : items) {
    if (!item.isTensor()) throw std::runtime_error("it returned a " + item.tagKind() + " among its outputs");
    out.push_back(item.toTensor());
  }
  return out;
}

std::string count(size_t n, const std::string& noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

std::string head_list(const std::vector<HeadSpec>& heads) {
  std::string s;
  for (const HeadSpec& head : heads) s += (s.empty() ? "" : ", ") + head.name + "(" + head.kind + ")";
  return s;
}

// Each output as the CPU float32 tensor its head's decoder expects.
std::vector<at::Tensor> check_outputs(std::vector<at::Tensor> outputs, int64_t batch, const Metadata& m,
                                      const std::string& path) {
  if (outputs.size() != m.heads.size())
    throw Error(path + ": the model gives " + count(outputs.size(), "output") + ", fastkp.json names " +
                count(m.heads.size(), "head") + ": " + head_list(m.heads));
  for (size_t h = 0; h < outputs.size(); ++h) {
    std::vector<int64_t> want = m.heads[h].decoder->row_shape();
    want.insert(want.begin(), batch);
    if (outputs[h].sizes() != at::IntArrayRef(want))
      throw Error(path + ": head '" + m.heads[h].name + "' (" + m.heads[h].kind + ") expects an output of shape " +
                  c10::str(at::IntArrayRef(want)) + ", the model gives " + c10::str(outputs[h].sizes()));
    outputs[h] = outputs[h].to(at::kCPU, at::kFloat).contiguous();
  }
  return outputs;
}

std::string described(const at::Tensor& t) {
  return t.defined() ? std::string(c10::toString(t.scalar_type())) + " " + c10::str(t.sizes()) : "none";
}

// A model trained with boxes takes one float32 box per image, any other model none.
void check_boxes(const at::Tensor& boxes, int64_t batch, const Metadata& m, const std::string& path) {
  if (!m.box_crop && boxes.defined()) throw Error(path + ": the model was trained without boxes: give it no boxes");
  if (m.box_crop && (!boxes.defined() || boxes.scalar_type() != at::kFloat || boxes.dim() != 2 ||
                     boxes.size(0) != batch || boxes.size(1) != 4))
    throw Error(path + ": the model was trained with boxes: it takes float32 boxes (" + std::to_string(batch) +
                ", 4) with its images, got " + described(boxes));
}

}  // namespace

std::vector<at::Tensor> Model::forward(const at::Tensor& images, const at::Tensor& boxes) const {
  if (images.scalar_type() != at::kByte || images.dim() != 4 || images.size(3) != 3 || images.numel() == 0)
    throw Error(impl_->path + ": input must be a non-empty uint8 tensor (B, H, W, 3), got " + described(images));
  check_boxes(boxes, images.size(0), impl_->metadata, impl_->path);
  c10::InferenceMode guard;
  std::vector<at::Tensor> inputs = {images.to(impl_->device).contiguous()};
  if (boxes.defined()) inputs.push_back(boxes.to(impl_->device).contiguous());
  std::vector<at::Tensor> outputs;
  try {
    if (impl_->package) outputs = impl_->package->run(inputs);
    else outputs = tensors(impl_->script->forward(std::vector<c10::IValue>(inputs.begin(), inputs.end())));
  } catch (const c10::Error& e) {
    throw Error(impl_->path + ": the model failed (" + first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    throw Error(impl_->path + ": the model failed (" + first_line(e.what()) + ")");
  }
  return check_outputs(std::move(outputs), images.size(0), impl_->metadata, impl_->path);
}

namespace {

// The predictions of a batch; `boxes`: the batch's boxes, or none.
std::vector<Prediction> unpack(const std::vector<at::Tensor>& outputs, const std::vector<Box>& boxes, int64_t batch,
                               const Metadata& m) {
  std::vector<Prediction> preds(batch);
  for (int64_t i = 0; i < batch; ++i) {
    if (!boxes.empty()) preds[i].box = boxes[i];
    for (size_t h = 0; h < m.heads.size(); ++h) {
      at::Tensor row = outputs[h][i];
      const float* v = row.data_ptr<float>();
      preds[i].heads.push_back({m.heads[h].name, m.heads[h].kind, row.sizes().vec(),
                                std::vector<float>(v, v + row.numel()), m.heads[h].decoder});
    }
  }
  return preds;
}

bool complete(const Image& image) {
  return image.height > 0 && image.width > 0 &&
         image.rgb.size() == static_cast<size_t>(image.height * image.width * 3);
}

// The model only reads its input, so the pixels are wrapped rather than copied.
at::Tensor wrapped(const Image& image) {
  return at::from_blob(const_cast<uint8_t*>(image.rgb.data()), {1, image.height, image.width, 3}, at::kByte);
}

static_assert(sizeof(Box) == 4 * sizeof(float));

// (N, 4) float32 over `boxes`; undefined for none.
at::Tensor wrapped(const std::vector<Box>& boxes) {
  if (boxes.empty()) return {};
  return at::from_blob(const_cast<float*>(boxes[0].data()), {static_cast<int64_t>(boxes.size()), 4}, at::kFloat);
}

Box whole_frame(const Image& image) {
  return {0.0f, 0.0f, static_cast<float>(image.width), static_cast<float>(image.height)};
}

// The image repeated once per box costs this many bytes at most per forward pass (one box at least).
constexpr size_t kBoxBatchBytes = size_t{256} << 20;

}  // namespace

std::vector<Prediction> Model::predict(const std::vector<Image>& images) const {
  if (images.empty()) return {};
  const int64_t h = images[0].height, w = images[0].width;
  at::Tensor batch = at::empty({static_cast<int64_t>(images.size()), h, w, 3}, at::kByte);
  for (size_t i = 0; i < images.size(); ++i) {
    if (images[i].height != h || images[i].width != w || !complete(images[i]))
      throw Error(impl_->path + ": a batch needs complete images of one size");
    std::memcpy(batch[static_cast<int64_t>(i)].data_ptr(), images[i].rgb.data(), images[i].rgb.size());
  }
  std::vector<Box> boxes;
  if (impl_->metadata.box_crop) boxes.assign(images.size(), whole_frame(images[0]));
  return unpack(forward(batch, wrapped(boxes)), boxes, batch.size(0), impl_->metadata);
}

Prediction Model::predict(const Image& image) const {
  const Metadata& m = impl_->metadata;
  if (m.box_crop) return predict(image, {whole_frame(image)}).at(0);
  if (!complete(image)) throw Error(impl_->path + ": the image has no pixels or the wrong number of them");
  if (image.height * image.width <= kSampleAbovePixels) return unpack(forward(wrapped(image)), {}, 1, m).at(0);
  const Image small = sampled_frame(image, m.input_height, m.input_width);
  std::vector<at::Tensor> outputs = forward(wrapped(small));
  c10::InferenceMode guard;
  for (size_t h = 0; h < m.heads.size(); ++h) {  // points come in pixels of `small`: back to the image's
    if (m.heads[h].kind != "keypoints") continue;
    std::vector<float> scale(outputs[h].size(-1), 1.0f);  // (x, y[, score])
    scale[0] = static_cast<float>(image.width) / small.width;
    scale[1] = static_cast<float>(image.height) / small.height;
    outputs[h] = outputs[h] * at::tensor(scale);
  }
  return unpack(outputs, {}, 1, m).at(0);
}

std::vector<Prediction> Model::predict(const Image& image, const std::vector<Box>& boxes) const {
  if (!complete(image)) throw Error(impl_->path + ": the image has no pixels or the wrong number of them");
  for (const Box& b : boxes)
    if (!valid_box(b))
      throw Error(impl_->path + ": box [" + json::number(b[0]) + ", " + json::number(b[1]) + ", " +
                  json::number(b[2]) + ", " + json::number(b[3]) + "] must be finite with x1 > x0 and y1 > y0");
  const size_t per_batch = std::max<size_t>(1, kBoxBatchBytes / image.rgb.size());
  std::vector<Prediction> out;
  for (size_t start = 0; start < boxes.size(); start += per_batch) {
    std::vector<Box> part(boxes.begin() + start, boxes.begin() + std::min(boxes.size(), start + per_batch));
    const int64_t n = static_cast<int64_t>(part.size());
    at::Tensor images = wrapped(image).expand({n, image.height, image.width, 3});
    for (Prediction& p : unpack(forward(images, wrapped(part)), part, n, impl_->metadata)) out.push_back(std::move(p));
  }
  return out;
}

std::string runtime_info() {
  std::string s = std::string("fastkp ") + FASTKP_VERSION + ", torch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
                  std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH) +
                  ", CPU kernels " + fastkp::cpu_capability();
  if (fastkp::cuda_kernels_built()) s += std::string(", CUDA kernels for ") + fastkp::cuda_archs();
  return s;
}

}  // namespace fastkp::infer
