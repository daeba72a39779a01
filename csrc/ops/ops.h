// The fastkp operators as C++ functions that call through the dispatcher, for
// the kernels that wrap another key's kernel (autocast, autograd).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace fastkp::ops {

using OptTensor = std::optional<at::Tensor>;

at::Tensor sigmoid_range(const at::Tensor& x, double lo, double hi);
at::Tensor sigmoid_range_backward(const at::Tensor& grad, const at::Tensor& x, double lo, double hi);
at::Tensor bce_with_logits(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                           const OptTensor& pos_weight, int64_t reduction);
std::tuple<at::Tensor, at::Tensor> bce_with_logits_backward(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
    const OptTensor& pos_weight, int64_t reduction, bool target_grad);

std::tuple<at::Tensor, at::Tensor> soft_argmax(const at::Tensor& heatmaps, double beta);
at::Tensor soft_argmax_backward(const at::Tensor& grad_coords, const at::Tensor& heatmaps, const at::Tensor& coords,
                                const at::Tensor& peak, double beta);

}  // namespace fastkp::ops
