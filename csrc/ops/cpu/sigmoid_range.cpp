// CPU implementation of fastkp::sigmoid_range and its backward.
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "../checks.h"
#include "iterate.h"

namespace fastkp::cpu {
namespace {

at::Tensor& forward_into(const at::Tensor& x, double lo, double hi, at::Tensor& out) {
  const auto dtype = x.scalar_type();
  for_each(x, {out}, {x}, [&](const Run& r) { kernels().sigmoid_range_forward(dtype, r, lo, hi); });
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
  // In x's layout, as the fake kernel's empty_like(x) promises.
  auto grad_x = at::empty_like(x);
  const auto dtype = x.scalar_type();
  for_each(x, {grad_x}, {grad, x}, [&](const Run& r) { kernels().sigmoid_range_backward(dtype, r, lo, hi); });
  return grad_x;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, CPU, m) {
  m.impl("sigmoid_range", &forward);
  m.impl("sigmoid_range.out", &forward_out);
  m.impl("sigmoid_range_backward", &backward);
}

}  // namespace fastkp::cpu
