// CPU implementation of fastkp::sigmoid_range and its backward.
#include <ATen/TensorIterator.h>
#include <torch/library.h>

#include "../checks.h"
#include "iterate.h"

namespace fastkp::cpu {
namespace {

at::Tensor& forward_into(const at::Tensor& x, double lo, double hi, at::Tensor& out) {
  auto iter = at::TensorIteratorConfig().add_output(out).add_const_input(x).build();
  for_each(iter, [&](const Run& r) {
    kernels().sigmoid_range_forward(iter.common_dtype(), r, lo, hi);
  });
  if (!out.defined()) out = iter.output();
  return out;
}

at::Tensor forward(const at::Tensor& x, double lo, double hi) {
  check_sigmoid_range(x, lo, hi);
  at::Tensor out;
  return forward_into(x, lo, hi, out);
}

at::Tensor& forward_out(const at::Tensor& x, double lo, double hi, at::Tensor& out) {
  check_sigmoid_range(x, lo, hi);
  check_out(out, x, "fastkp.sigmoid_range", "x");
  return forward_into(x, lo, hi, out);
}

at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, double lo, double hi) {
  check_sigmoid_range_backward(grad, x, lo, hi);
  auto iter = at::TensorIteratorConfig()
                  .add_owned_output(at::Tensor())
                  .add_const_input(grad)
                  .add_const_input(x)
                  .build();
  for_each(iter, [&](const Run& r) {
    kernels().sigmoid_range_backward(iter.common_dtype(), r, lo, hi);
  });
  return iter.output();
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, CPU, m) {
  m.impl("sigmoid_range", &forward);
  m.impl("sigmoid_range.out", &forward_out);
  m.impl("sigmoid_range_backward", &backward);
}

}  // namespace fastkp::cpu
