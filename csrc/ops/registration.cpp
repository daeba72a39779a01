// Operator schemas, and the autocast rule shared by every backend.
#include <ATen/autocast_mode.h>
#include <torch/library.h>

#include "ops.h"

namespace fastkp {
namespace {

using ops::OptTensor;

// Under autocast the operators compute in float32 and return float32, as
// PyTorch's own losses do: a bf16/fp16 loss or keypoint loses too much.
template <c10::DeviceType Device>
at::Tensor sigmoid_range_autocast(const at::Tensor& x, double lo, double hi) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  return ops::sigmoid_range(at::autocast::cached_cast(at::kFloat, x, Device), lo, hi);
}

template <c10::DeviceType Device>
at::Tensor bce_autocast(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                        const OptTensor& pos_weight, int64_t reduction) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  auto f32 = [](const auto& t) { return at::autocast::cached_cast(at::kFloat, t, Device); };
  return ops::bce_with_logits(f32(input), f32(target), f32(weight), f32(pos_weight), reduction);
}

// soft_argmax too: keypoints decoded from bf16/fp16 heatmaps would lose pixels.
template <c10::DeviceType Device>
std::tuple<at::Tensor, at::Tensor> soft_argmax_autocast(const at::Tensor& heatmaps, double beta) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  return ops::soft_argmax(at::autocast::cached_cast(at::kFloat, heatmaps, Device), beta);
}

}  // namespace

TORCH_LIBRARY(fastkp, m) {
  m.def("sigmoid_range(Tensor x, float lo, float hi) -> Tensor");
  m.def("sigmoid_range.out(Tensor x, float lo, float hi, *, Tensor(a!) out) -> Tensor(a!)");
  m.def("sigmoid_range_backward(Tensor grad, Tensor x, float lo, float hi) -> Tensor");
  m.def(
      "bce_with_logits(Tensor input, Tensor target, Tensor? weight, Tensor? pos_weight, "
      "int reduction) -> Tensor");
  m.def(
      "bce_with_logits.out(Tensor input, Tensor target, Tensor? weight, "
      "Tensor? pos_weight, int reduction, *, Tensor(a!) out) -> Tensor(a!)");
  // Returns (grad_input, grad_target); grad_target is empty unless target_grad.
  m.def(
      "bce_with_logits_backward(Tensor grad, Tensor input, Tensor target, Tensor? weight, "
      "Tensor? pos_weight, int reduction, bool target_grad) -> (Tensor, Tensor)");
  // (B, K, H, W) logits -> coords (B, K, 2) = the softmax(beta * map)-weighted mean of the
  // cell centres in [-1, 1], and peak (B, K) = the largest probability (not differentiable).
  m.def("soft_argmax(Tensor heatmaps, float beta) -> (Tensor coords, Tensor peak)");
  // d loss / d heatmaps from d loss / d coords, recomputing the probabilities.
  m.def(
      "soft_argmax_backward(Tensor grad_coords, Tensor heatmaps, Tensor coords, Tensor peak, "
      "float beta) -> Tensor");
}

TORCH_LIBRARY_IMPL(fastkp, AutocastCPU, m) {
  m.impl("sigmoid_range", &sigmoid_range_autocast<c10::DeviceType::CPU>);
  m.impl("bce_with_logits", &bce_autocast<c10::DeviceType::CPU>);
  m.impl("soft_argmax", &soft_argmax_autocast<c10::DeviceType::CPU>);
}

TORCH_LIBRARY_IMPL(fastkp, AutocastCUDA, m) {
  m.impl("sigmoid_range", &sigmoid_range_autocast<c10::DeviceType::CUDA>);
  m.impl("bce_with_logits", &bce_autocast<c10::DeviceType::CUDA>);
  m.impl("soft_argmax", &soft_argmax_autocast<c10::DeviceType::CUDA>);
}

}  // namespace fastkp
