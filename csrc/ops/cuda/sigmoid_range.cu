// CUDA implementation of fastkp::sigmoid_range and its backward.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../checks.h"
#include "../math.h"
#include "launch.cuh"

namespace fastkp::cuda {
namespace {

template <typename A>
struct Forward {
  A lo, scale;
  __device__ void operator()(const A (&in)[1], A (&out)[1]) const {
    out[0] = math::sigmoid_range_forward(in[0], lo, scale);
  }
};

template <typename A>
struct Backward {
  A scale;
  __device__ void operator()(const A (&in)[2], A (&out)[1]) const {
    out[0] = math::sigmoid_range_backward(in[0], in[1], scale);
  }
};

// Writes into `out` (resized to x's shape); an `out` whose storage is not one
// dense block receives a copy.
at::Tensor& forward_into(const at::Tensor& x, double lo, double hi, at::Tensor& out) {
  c10::cuda::CUDAGuard guard(x.device());
  out.resize_(x.sizes());
  auto dst = out.is_non_overlapping_and_dense() ? out : at::empty_like(x);
  auto xd = in_layout_of(dst, x);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "fastkp_sigmoid_range", [&] {
    using A = at::opmath_type<scalar_t>;
    Operands<scalar_t, 1, 1> p{{dst.data_ptr<scalar_t>()}, {xd.const_data_ptr<scalar_t>()}, {false}};
    elementwise(x.numel(), p, Forward<A>{A(lo), A(hi - lo)});
  });
  if (!dst.is_same(out)) out.copy_(dst);
  return out;
}

at::Tensor forward(const at::Tensor& x, double lo, double hi) {
  check_sigmoid_range(x, lo, hi);
  auto out = at::empty_like(x);
  return forward_into(x, lo, hi, out);
}

at::Tensor& forward_out(const at::Tensor& x, double lo, double hi, at::Tensor& out) {
  check_sigmoid_range(x, lo, hi);
  check_out(out, x, "fastkp.sigmoid_range", "x");
  return forward_into(x, lo, hi, out);
}

at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, double lo, double hi) {
  check_sigmoid_range_backward(grad, x, lo, hi);
  c10::cuda::CUDAGuard guard(x.device());
  auto gx = at::empty_like(x);
  auto xd = in_layout_of(gx, x);
  auto gd = in_layout_of(gx, grad);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "fastkp_sigmoid_range_backward", [&] {
    using A = at::opmath_type<scalar_t>;
    Operands<scalar_t, 1, 2> p{{gx.data_ptr<scalar_t>()},
                               {gd.const_data_ptr<scalar_t>(), xd.const_data_ptr<scalar_t>()},
                               {false, false}};
    elementwise(x.numel(), p, Backward<A>{A(hi - lo)});
  });
  return gx;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, CUDA, m) {
  m.impl("sigmoid_range", &forward);
  m.impl("sigmoid_range.out", &forward_out);
  m.impl("sigmoid_range_backward", &backward);
}

}  // namespace fastkp::cuda
