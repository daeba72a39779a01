// CUDA implementation of fastkp::soft_argmax and its backward: one block per
// (b, k) map, block reductions (warp shuffles, then one warp over the warps'
// results) for the max and the three sums; the cell arithmetic is math.h's.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>
#include <limits>

#include "../checks.h"
#include "../math.h"

namespace fastkp::cuda {
namespace {

constexpr int kBlock = 256;  // threads per map; a multiple of 32
constexpr int kWarps = kBlock / 32;

struct Max {
  template <typename T>
  __device__ T operator()(T a, T b) const { return math::max_(a, b); }
};
struct Sum {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a + b; }
};

// The reduction of every thread's v, returned to every thread of the block.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T partial[kWarps];
  __shared__ T result;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? partial[lane] : identity;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    if (lane == 0) result = v;
  }
  __syncthreads();
  v = result;
  __syncthreads();  // partial and result may be reused by the next call
  return v;
}

// m = max(beta * h) over the map.
template <typename T>
__device__ T map_max(const T* map, uint32_t n, T beta) {
  T mx = -std::numeric_limits<T>::infinity();
  for (uint32_t i = threadIdx.x; i < n; i += kBlock) mx = math::max_(mx, map[i] * beta);
  return block_reduce(mx, Max{}, -std::numeric_limits<T>::infinity());
}

template <typename T>
__global__ void __launch_bounds__(kBlock) forward_kernel(const T* __restrict__ heatmaps, T* __restrict__ coords,
                                                         T* __restrict__ peak, uint32_t H, uint32_t W, T beta) {
  const uint32_t n = H * W;
  const T* map = heatmaps + int64_t(blockIdx.x) * n;
  const T mx = map_max(map, n, beta);
  T s = 0, sx = 0, sy = 0;
  for (uint32_t i = threadIdx.x; i < n; i += kBlock) {
    const uint32_t r = i / W, c = i - r * W;
    const T e = math::soft_argmax_weight(map[i], beta, mx);
    s += e;
    sx += e * math::cell_centre<T>(c, W);
    sy += e * math::cell_centre<T>(r, H);
  }
  s = block_reduce(s, Sum{}, T(0));
  sx = block_reduce(sx, Sum{}, T(0));
  sy = block_reduce(sy, Sum{}, T(0));
  if (threadIdx.x == 0) {
    peak[blockIdx.x] = T(1) / s;
    coords[2 * int64_t(blockIdx.x)] = sx / s;
    coords[2 * int64_t(blockIdx.x) + 1] = sy / s;
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) backward_kernel(T* __restrict__ grad_heatmaps,
                                                          const T* __restrict__ grad_coords,
                                                          const T* __restrict__ heatmaps,
                                                          const T* __restrict__ coords, const T* __restrict__ peak,
                                                          uint32_t H, uint32_t W, T beta) {
  const uint32_t n = H * W;
  const int64_t k = blockIdx.x;
  const T* map = heatmaps + k * n;
  T* out = grad_heatmaps + k * n;
  const T mx = map_max(map, n, beta);
  const T pk = peak[k], gx = grad_coords[2 * k], gy = grad_coords[2 * k + 1];
  const T cx = coords[2 * k], cy = coords[2 * k + 1];
  for (uint32_t i = threadIdx.x; i < n; i += kBlock) {
    const uint32_t r = i / W, c = i - r * W;
    const T p = math::soft_argmax_weight(map[i], beta, mx) * pk;
    out[i] = math::soft_argmax_grad(p, beta, gx, math::cell_centre<T>(c, W), cx, gy, math::cell_centre<T>(r, H), cy);
  }
}

void check_map_size(const at::Tensor& h) {
  TORCH_CHECK(h.size(2) * h.size(3) <= std::numeric_limits<int32_t>::max() &&
                  h.size(0) * h.size(1) <= std::numeric_limits<int32_t>::max(),
              "fastkp.soft_argmax: heatmaps of shape ", h.sizes(),
              " is too large for the CUDA kernel (at most 2^31 - 1 maps of 2^31 - 1 cells)");
}

std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& heatmaps, double beta) {
  check_soft_argmax(heatmaps, beta);
  check_map_size(heatmaps);
  c10::cuda::CUDAGuard guard(heatmaps.device());
  const auto h = heatmaps.contiguous();
  const int64_t B = h.size(0), K = h.size(1), H = h.size(2), W = h.size(3);
  auto coords = at::empty({B, K, 2}, h.options());
  auto peak = at::empty({B, K}, h.options());
  if (B * K == 0) return {coords, peak};
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "fastkp_soft_argmax", [&] {
    forward_kernel<scalar_t><<<unsigned(B * K), kBlock, 0, stream>>>(
        h.const_data_ptr<scalar_t>(), coords.data_ptr<scalar_t>(), peak.data_ptr<scalar_t>(), uint32_t(H),
        uint32_t(W), scalar_t(beta));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {coords, peak};
}

at::Tensor backward(const at::Tensor& grad_coords, const at::Tensor& heatmaps, const at::Tensor& coords,
                    const at::Tensor& peak, double beta) {
  check_soft_argmax_backward(grad_coords, heatmaps, coords, peak, beta);
  check_map_size(heatmaps);
  c10::cuda::CUDAGuard guard(heatmaps.device());
  const auto h = heatmaps.contiguous();
  const auto g = grad_coords.contiguous(), c = coords.contiguous(), p = peak.contiguous();
  const int64_t B = h.size(0), K = h.size(1), H = h.size(2), W = h.size(3);
  auto grad_h = at::empty({B, K, H, W}, h.options());
  if (B * K == 0) {
    return soft_argmax_channels_last(heatmaps) ? at::empty_like(heatmaps, at::MemoryFormat::ChannelsLast) : grad_h;
  }
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "fastkp_soft_argmax_backward", [&] {
    backward_kernel<scalar_t><<<unsigned(B * K), kBlock, 0, stream>>>(
        grad_h.data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(), h.const_data_ptr<scalar_t>(),
        c.const_data_ptr<scalar_t>(), p.const_data_ptr<scalar_t>(), uint32_t(H), uint32_t(W), scalar_t(beta));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (soft_argmax_channels_last(heatmaps)) {  // the layout the fake kernel promises
    return at::empty_like(heatmaps, at::MemoryFormat::ChannelsLast).copy_(grad_h);
  }
  return grad_h;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, CUDA, m) {
  m.impl("soft_argmax", &forward);
  m.impl("soft_argmax_backward", &backward);
}

}  // namespace fastkp::cuda
