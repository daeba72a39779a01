// CPU implementation of fastkp::soft_argmax and its backward: ATen's thread
// pool splits the B*K maps, each map is one call of the per-capability loops
// (kernels.cpp), one pass for the max and one fused pass for the sums.
//
// Channels-last heatmaps (what a 1x1 convolution gives in channels-last
// training) are not copied to NCHW as a whole (ATen's strided copy costs more
// than the kernels): each image's K maps are transposed into a per-thread
// buffer that stays in cache while the kernels read it, and the backward
// writes its gradient back in channels-last, the layout the convolution's
// backward wants.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../checks.h"
#include "kernels.h"

namespace fastkp::cpu {
namespace {

// Maps per task: about one parallel grain of cells (ATen's GRAIN_SIZE, 32768).
constexpr int64_t kGrainCells = 32768;

int64_t grain(int64_t cells) { return std::max<int64_t>(1, kGrainCells / std::max<int64_t>(cells, 1)); }

// (n, K) row-major -> (K, n) row-major, and back.
template <typename T>
void to_maps(const T* src, T* dst, int64_t n, int64_t K) {
  kernels().transpose(c10::CppTypeToScalarType<T>::value, src, K, dst, n, n, K);
}

template <typename T>
void from_maps(const T* src, T* dst, int64_t n, int64_t K) {
  kernels().transpose(c10::CppTypeToScalarType<T>::value, src, n, dst, K, K, n);
}

std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& heatmaps, double beta) {
  check_soft_argmax(heatmaps, beta);
  const int64_t B = heatmaps.size(0), K = heatmaps.size(1), H = heatmaps.size(2), W = heatmaps.size(3);
  const int64_t n = H * W;
  auto coords = at::empty({B, K, 2}, heatmaps.options());
  auto peak = at::empty({B, K}, heatmaps.options());
  const auto dtype = heatmaps.scalar_type();
  if (soft_argmax_channels_last(heatmaps)) {
    AT_DISPATCH_FLOATING_TYPES(dtype, "fastkp_soft_argmax_nhwc", [&] {
      const scalar_t* src = heatmaps.const_data_ptr<scalar_t>();
      at::parallel_for(0, B, grain(K * n), [&](int64_t begin, int64_t end) {
        std::vector<scalar_t> maps(K * n);
        for (int64_t b = begin; b < end; ++b) {
          to_maps(src + b * K * n, maps.data(), n, K);
          const SoftArgmaxArgs args{maps.data(), coords.data_ptr<scalar_t>() + b * K * 2,
                                    peak.data_ptr<scalar_t>() + b * K, H, W, beta};
          kernels().soft_argmax_forward(dtype, args, 0, K);
        }
      });
    });
    return {coords, peak};
  }
  const auto h = heatmaps.contiguous();
  const SoftArgmaxArgs args{h.const_data_ptr(), coords.data_ptr(), peak.data_ptr(), H, W, beta};
  at::parallel_for(0, B * K, grain(n), [&](int64_t begin, int64_t end) {
    kernels().soft_argmax_forward(dtype, args, begin, end);
  });
  return {coords, peak};
}

at::Tensor backward(const at::Tensor& grad_coords, const at::Tensor& heatmaps, const at::Tensor& coords,
                    const at::Tensor& peak, double beta) {
  check_soft_argmax_backward(grad_coords, heatmaps, coords, peak, beta);
  const auto g = grad_coords.contiguous(), c = coords.contiguous(), p = peak.contiguous();
  const int64_t B = heatmaps.size(0), K = heatmaps.size(1), H = heatmaps.size(2), W = heatmaps.size(3);
  const int64_t n = H * W;
  const auto dtype = heatmaps.scalar_type();
  if (soft_argmax_channels_last(heatmaps)) {
    auto grad_h = at::empty_like(heatmaps, at::MemoryFormat::ChannelsLast);
    AT_DISPATCH_FLOATING_TYPES(dtype, "fastkp_soft_argmax_backward_nhwc", [&] {
      const scalar_t* src = heatmaps.const_data_ptr<scalar_t>();
      scalar_t* dst = grad_h.data_ptr<scalar_t>();
      at::parallel_for(0, B, grain(K * n), [&](int64_t begin, int64_t end) {
        std::vector<scalar_t> maps(K * n), grads(K * n);
        for (int64_t b = begin; b < end; ++b) {
          to_maps(src + b * K * n, maps.data(), n, K);
          const SoftArgmaxGradArgs args{grads.data(), g.const_data_ptr<scalar_t>() + b * K * 2, maps.data(),
                                        c.const_data_ptr<scalar_t>() + b * K * 2,
                                        p.const_data_ptr<scalar_t>() + b * K, H, W, beta};
          kernels().soft_argmax_backward(dtype, args, 0, K);
          from_maps(grads.data(), dst + b * K * n, n, K);
        }
      });
    });
    return grad_h;
  }
  const auto h = heatmaps.contiguous();
  auto grad_h = at::empty({B, K, H, W}, h.options());
  const SoftArgmaxGradArgs args{grad_h.data_ptr(), g.const_data_ptr(), h.const_data_ptr(),
                                c.const_data_ptr(), p.const_data_ptr(), H, W, beta};
  at::parallel_for(0, B * K, grain(n), [&](int64_t begin, int64_t end) {
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
