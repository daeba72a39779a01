// Argument validation shared by the CPU and CUDA implementations, so both
// reject bad input with the same message naming the argument.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace fastkp {

// at::Reduction values, as the schema's `int reduction` carries them.
enum class Reduction : int64_t { None = 0, Mean = 1, Sum = 2 };

void check_floating(const at::Tensor& t, const char* op, const char* arg);
// An out= tensor: floating, with the dtype and device of `ref` (named ref_name).
void check_out(const at::Tensor& out, const at::Tensor& ref, const char* op, const char* ref_name);
void check_sigmoid_range(const at::Tensor& x, double lo, double hi);
void check_sigmoid_range_backward(const at::Tensor& grad, const at::Tensor& x, double lo, double hi);
Reduction check_bce(const at::Tensor& input, const at::Tensor& target,
                    const std::optional<at::Tensor>& weight,
                    const std::optional<at::Tensor>& pos_weight, int64_t reduction);
// heatmaps: a float32/float64 (B, K, H, W) tensor with H, W >= 1; beta finite.
void check_soft_argmax(const at::Tensor& heatmaps, double beta);
// The layout rule of soft_argmax_backward's result, which every backend and the
// fake kernel follow: channels-last when the heatmaps are channels-last (and not
// also contiguous, as with K == 1), else contiguous.
bool soft_argmax_channels_last(const at::Tensor& heatmaps);
void check_soft_argmax_backward(const at::Tensor& grad_coords, const at::Tensor& heatmaps,
                                const at::Tensor& coords, const at::Tensor& peak, double beta);
void check_bce_grad(const at::Tensor& grad, const at::Tensor& input, Reduction reduction);

}  // namespace fastkp
