#include "ops.h"

#include <ATen/core/dispatch/Dispatcher.h>

namespace fastkp::ops {
namespace {

template <typename Signature>
c10::TypedOperatorHandle<Signature> find(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

}  // namespace

at::Tensor sigmoid_range(const at::Tensor& x, double lo, double hi) {
  static const auto op = find<at::Tensor(const at::Tensor&, double, double)>("fastkp::sigmoid_range");
  return op.call(x, lo, hi);
}

at::Tensor sigmoid_range_backward(const at::Tensor& grad, const at::Tensor& x, double lo, double hi) {
  static const auto op =
      find<at::Tensor(const at::Tensor&, const at::Tensor&, double, double)>("fastkp::sigmoid_range_backward");
  return op.call(grad, x, lo, hi);
}

at::Tensor bce_with_logits(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                           const OptTensor& pos_weight, int64_t reduction) {
  static const auto op =
      find<at::Tensor(const at::Tensor&, const at::Tensor&, const OptTensor&, const OptTensor&, int64_t)>(
          "fastkp::bce_with_logits");
  return op.call(input, target, weight, pos_weight, reduction);
}

std::tuple<at::Tensor, at::Tensor> bce_with_logits_backward(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
    const OptTensor& pos_weight, int64_t reduction, bool target_grad) {
  static const auto op = find<std::tuple<at::Tensor, at::Tensor>(
      const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptTensor&, const OptTensor&, int64_t, bool)>(
      "fastkp::bce_with_logits_backward");
  return op.call(grad, input, target, weight, pos_weight, reduction, target_grad);
}

std::tuple<at::Tensor, at::Tensor> soft_argmax(const at::Tensor& heatmaps, double beta) {
  static const auto op =
      find<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, double)>("fastkp::soft_argmax");
  return op.call(heatmaps, beta);
}

at::Tensor soft_argmax_backward(const at::Tensor& grad_coords, const at::Tensor& heatmaps, const at::Tensor& coords,
                                const at::Tensor& peak, double beta) {
  static const auto op =
      find<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, double)>(
          "fastkp::soft_argmax_backward");
  return op.call(grad_coords, heatmaps, coords, peak, beta);
}

}  // namespace fastkp::ops
