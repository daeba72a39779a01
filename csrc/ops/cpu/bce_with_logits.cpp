// CPU implementation of fastkp::bce_with_logits and its backward.
#include <ATen/TensorIterator.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/full.h>
#include <torch/library.h>

#include <limits>

#include "../checks.h"
#include "iterate.h"

namespace fastkp::cpu {
namespace {

using OptTensor = std::optional<at::Tensor>;

bool present(const OptTensor& t) { return t.has_value() && t->defined(); }

// Adds x, target, [weight], [pos_weight] as the iterator's inputs.
at::TensorIteratorConfig& add_inputs(at::TensorIteratorConfig& config, const at::Tensor& input,
                                     const at::Tensor& target, const OptTensor& weight,
                                     const OptTensor& pos_weight) {
  config.add_const_input(input).add_const_input(target);
  if (present(weight)) config.add_const_input(*weight);
  if (present(pos_weight)) config.add_const_input(*pos_weight);
  return config;
}

at::Tensor forward_impl(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                        const OptTensor& pos_weight, Reduction reduction, at::Tensor out) {
  BceFlags flags{present(weight), present(pos_weight), reduction == Reduction::None, false};
  at::TensorIteratorConfig config;
  if (flags.write_loss) config.add_output(out);
  auto iter = add_inputs(config, input, target, weight, pos_weight).build();
  const auto dtype = input.scalar_type();
  if (flags.write_loss) {
    for_each(iter, [&](const Run& r) { kernels().bce_forward(dtype, r, flags); });
    return iter.output();
  }
  const int64_t n = input.numel();
  double total = n == 0 ? 0.0 : sum(iter, [&](const Run& r) { return kernels().bce_forward(dtype, r, flags); });
  if (reduction == Reduction::Mean) {
    total = n == 0 ? std::numeric_limits<double>::quiet_NaN() : total / double(n);
  }
  auto result = out.defined() ? out : at::empty({}, input.options());
  return result.fill_(total);
}

at::Tensor forward(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                   const OptTensor& pos_weight, int64_t reduction) {
  Reduction red = check_bce(input, target, weight, pos_weight, reduction);
  return forward_impl(input, target, weight, pos_weight, red, at::Tensor());
}

at::Tensor& forward_out(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                        const OptTensor& pos_weight, int64_t reduction, at::Tensor& out) {
  Reduction red = check_bce(input, target, weight, pos_weight, reduction);
  check_out(out, input, "fastkp.bce_with_logits", "input");
  if (red != Reduction::None) out.resize_({});
  forward_impl(input, target, weight, pos_weight, red, out);
  return out;
}

std::tuple<at::Tensor, at::Tensor> backward(const at::Tensor& grad, const at::Tensor& input,
                                            const at::Tensor& target, const OptTensor& weight,
                                            const OptTensor& pos_weight, int64_t reduction,
                                            bool target_grad) {
  Reduction red = check_bce(input, target, weight, pos_weight, reduction);
  check_bce_grad(grad, input, red);
  BceFlags flags{present(weight), present(pos_weight), false, target_grad};
  at::TensorIteratorConfig config;
  // Allocate grad_input in input's layout; TensorIterator fills it.
  auto grad_input = at::empty_like(input);
  auto grad_target = target_grad ? at::empty_like(target) : at::empty({0}, input.options());
  config.add_output(grad_input);
  if (target_grad) config.add_output(grad_target);
  // A reduced loss's grad is one value, broadcast over every element.
  const at::Tensor grad_operand = red == Reduction::None ? grad : grad.reshape({});
  config.add_const_input(grad_operand);
  auto iter = add_inputs(config, input, target, weight, pos_weight).build();
  const double scale = red == Reduction::Mean ? 1.0 / double(std::max<int64_t>(input.numel(), 1)) : 1.0;
  const auto dtype = input.scalar_type();
  for_each(iter, [&](const Run& r) { kernels().bce_backward(dtype, r, flags, scale); });
  return {grad_input, grad_target};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, CPU, m) {
  m.impl("bce_with_logits", &forward);
  m.impl("bce_with_logits.out", &forward_out);
  m.impl("bce_with_logits_backward", &backward);
}

}  // namespace fastkp::cpu
