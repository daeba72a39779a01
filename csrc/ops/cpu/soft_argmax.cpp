// CPU implementation of fastkp::soft_argmax and its backward: ATen's thread
// pool splits the B*K maps, each map is one call of the per-capability loops
// (kernels.cpp), one pass for the max and one fused pass for the sums.
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>

#include "../checks.h"
#include "kernels.h"

namespace fastkp::cpu {
namespace {

// Maps per task: about one parallel grain of cells (ATen's GRAIN_SIZE, 32768).
constexpr int64_t kGrainCells = 32768;

int64_t grain(int64_t cells_per_map) {
  return std::max<int64_t>(1, kGrainCells / std::max<int64_t>(cells_per_map, 1));
}

std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& heatmaps, double beta) {
  check_soft_argmax(heatmaps, beta);
  const auto h = heatmaps.contiguous();
  const int64_t B = h.size(0), K = h.size(1), H = h.size(2), W = h.size(3);
  auto coords = at::empty({B, K, 2}, h.options());
  auto peak = at::empty({B, K}, h.options());
  const SoftArgmaxArgs args{h.const_data_ptr(), coords.data_ptr(), peak.data_ptr(), H, W, beta};
  const auto dtype = h.scalar_type();
  at::parallel_for(0, B * K, grain(H * W), [&](int64_t begin, int64_t end) {
    kernels().soft_argmax_forward(dtype, args, begin, end);
  });
  return {coords, peak};
}

at::Tensor backward(const at::Tensor& grad_coords, const at::Tensor& heatmaps, const at::Tensor& coords,
                    const at::Tensor& peak, double beta) {
  check_soft_argmax_backward(grad_coords, heatmaps, coords, peak, beta);
  const auto h = heatmaps.contiguous();
  const auto g = grad_coords.contiguous(), c = coords.contiguous(), p = peak.contiguous();
  const int64_t B = h.size(0), K = h.size(1), H = h.size(2), W = h.size(3);
  // Contiguous, as the fake kernel promises (whatever the heatmaps' layout).
  auto grad_h = at::empty({B, K, H, W}, h.options());
  const SoftArgmaxGradArgs args{grad_h.data_ptr(), g.const_data_ptr(), h.const_data_ptr(),
                                c.const_data_ptr(), p.const_data_ptr(), H, W, beta};
  const auto dtype = h.scalar_type();
  at::parallel_for(0, B * K, grain(H * W), [&](int64_t begin, int64_t end) {
    kernels().soft_argmax_backward(dtype, args, begin, end);
  });
  return grad_h;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, CPU, m) {
  m.impl("soft_argmax", &forward);
  m.impl("soft_argmax_backward", &backward);
}

}  // namespace fastkp::cpu
