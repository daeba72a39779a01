// CPU implementation of fastkp::bce_with_logits and its backward.
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/SmallVector.h>
#include <torch/library.h>

#include <limits>

#include "../checks.h"
#include "iterate.h"

namespace fastkp::cpu {
namespace {

using OptTensor = std::optional<at::Tensor>;

bool present(const OptTensor& t) { return t.has_value() && t->defined(); }

// The kernels' inputs after their own: x, target, [weight], [pos_weight].
c10::SmallVector<at::Tensor, 6> with_inputs(c10::SmallVector<at::Tensor, 6> first, const at::Tensor& input,
                                            const at::Tensor& target, const OptTensor& weight,
                                            const OptTensor& pos_weight) {
  first.append({input, target});
  if (present(weight)) first.push_back(*weight);
  if (present(pos_weight)) first.push_back(*pos_weight);
  return first;
}

at::Tensor forward_impl(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                        const OptTensor& pos_weight, Reduction reduction, at::Tensor out) {
  BceFlags flags{present(weight), present(pos_weight), reduction == Reduction::None, false};
  const auto inputs = with_inputs({}, input, target, weight, pos_weight);
  const auto dtype = input.scalar_type();
  auto kernel = [&](const Run& r) { return kernels().bce_forward(dtype, r, flags); };
  if (flags.write_loss) {
    for_each(input, {out}, inputs, kernel);
    return out;
  }
  const int64_t n = input.numel();
  double total = sum(input, inputs, kernel);
  if (reduction == Reduction::Mean) {
    total = n == 0 ? std::numeric_limits<double>::quiet_NaN() : total / double(n);
  }
  return out.fill_(total);
}

at::Tensor forward(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                   const OptTensor& pos_weight, int64_t reduction) {
  Reduction red = check_bce(input, target, weight, pos_weight, reduction);
  auto out = red == Reduction::None ? at::empty_like(input) : at::empty({}, input.options());
  return forward_impl(input, target, weight, pos_weight, red, out);
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
  // The layouts of the fake kernel's empty_like(input) and empty_like(target).
  auto grad_input = at::empty_like(input);
  auto grad_target = target_grad ? at::empty_like(target) : at::empty({0}, input.options());
  c10::SmallVector<at::Tensor, 2> outputs{grad_input};
  if (target_grad) outputs.push_back(grad_target);
  // A reduced loss's grad is one value, broadcast over every element.
  const auto inputs = with_inputs({red == Reduction::None ? grad : grad.reshape({})}, input, target, weight,
                                  pos_weight);
  const double scale = red == Reduction::Mean ? 1.0 / double(std::max<int64_t>(input.numel(), 1)) : 1.0;
  const auto dtype = input.scalar_type();
  for_each(input, outputs, inputs, [&](const Run& r) { kernels().bce_backward(dtype, r, flags, scale); });
  return {grad_input, grad_target};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, CPU, m) {
  m.impl("bce_with_logits", &forward);
  m.impl("bce_with_logits.out", &forward_out);
  m.impl("bce_with_logits_backward", &backward);
}

}  // namespace fastkp::cpu
