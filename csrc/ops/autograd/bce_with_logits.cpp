// Autograd of fastkp::bce_with_logits in C++ (an Autograd-key kernel): the
// gradients with respect to input and target, in one fused backward kernel.
#include <torch/autograd.h>
#include <torch/library.h>

#include "../ops.h"
#include "records.h"

namespace fastkp::autograd {
namespace {

using ops::OptTensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

OptTensor maybe(const at::Tensor& t) { return t.defined() ? OptTensor(t) : std::nullopt; }

class Bce : public torch::autograd::Function<Bce> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& target,
                            const OptTensor& weight, const OptTensor& pos_weight, int64_t reduction) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    ctx->save_for_backward({input, target, weight.value_or(at::Tensor()), pos_weight.value_or(at::Tensor())});
    ctx->saved_data["reduction"] = reduction;
    ctx->saved_data["weight_grad"] = requires_grad(weight) || requires_grad(pos_weight);
    return ops::bce_with_logits(input, target, weight, pos_weight, reduction);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // PyTorch's own BCE has no such derivative either; say so instead of returning zeros.
    TORCH_CHECK(!ctx->saved_data["weight_grad"].toBool(),
                "fastkp.bce_with_logits: gradients with respect to weight or pos_weight are not supported");
    const auto saved = ctx->get_saved_variables();
    // input and target are always the first two differentiable inputs.
    const bool input_grad = ctx->needs_input_grad(0), target_grad = ctx->needs_input_grad(1);
    auto [grad_input, grad_target] =
        ops::bce_with_logits_backward(grads[0], saved[0], saved[1], maybe(saved[2]), maybe(saved[3]),
                                      ctx->saved_data["reduction"].toInt(), target_grad);
    return {input_grad ? grad_input : at::Tensor(), target_grad ? grad_target : at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

// Records a node only under create_graph=True, to refuse double backward clearly.
class BceBackward : public torch::autograd::Function<BceBackward> {
 public:
  static variable_list forward(AutogradContext*, const at::Tensor& grad, const at::Tensor& input,
                               const at::Tensor& target, const OptTensor& weight, const OptTensor& pos_weight,
                               int64_t reduction, bool target_grad) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [grad_input, grad_target] =
        ops::bce_with_logits_backward(grad, input, target, weight, pos_weight, reduction, target_grad);
    return {grad_input, grad_target};
  }

  static variable_list backward(AutogradContext*, variable_list) {
    C10_THROW_ERROR(NotImplementedError,
                    "fastkp.bce_with_logits: double backward (a gradient of its gradient) is not supported");
  }
};

at::Tensor forward(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                   const OptTensor& pos_weight, int64_t reduction) {
  if (records(input, target, weight, pos_weight)) return Bce::apply(input, target, weight, pos_weight, reduction);
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return ops::bce_with_logits(input, target, weight, pos_weight, reduction);
}

std::tuple<at::Tensor, at::Tensor> backward(const at::Tensor& grad, const at::Tensor& input,
                                            const at::Tensor& target, const OptTensor& weight,
                                            const OptTensor& pos_weight, int64_t reduction, bool target_grad) {
  if (records(grad, input, target, weight, pos_weight)) {
    auto out = BceBackward::apply(grad, input, target, weight, pos_weight, reduction, target_grad);
    return {out[0], out[1]};
  }
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return ops::bce_with_logits_backward(grad, input, target, weight, pos_weight, reduction, target_grad);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, Autograd, m) {
  m.impl("bce_with_logits", &forward);
  m.impl("bce_with_logits_backward", &backward);
}

}  // namespace fastkp::autograd
