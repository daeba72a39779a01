// Autograd of fastkp::sigmoid_range in C++ (an Autograd-key kernel), so the
// backward costs no Python and works from TorchScript and C++ programs too.
#include <torch/autograd.h>
#include <torch/library.h>

#include "../ops.h"
#include "records.h"

namespace fastkp::autograd {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class SigmoidRange : public torch::autograd::Function<SigmoidRange> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double lo, double hi) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    ctx->save_for_backward({x});
    ctx->saved_data["lo"] = lo;
    ctx->saved_data["hi"] = hi;
    return ops::sigmoid_range(x, lo, hi);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    auto gx = ops::sigmoid_range_backward(grads[0], x, ctx->saved_data["lo"].toDouble(),
                                          ctx->saved_data["hi"].toDouble());
    return {gx, at::Tensor(), at::Tensor()};
  }
};

// The backward op records a node only under create_graph=True; differentiating
// through it again is refused with a clear message instead of a silent zero.
class SigmoidRangeBackward : public torch::autograd::Function<SigmoidRangeBackward> {
 public:
  static at::Tensor forward(AutogradContext*, const at::Tensor& grad, const at::Tensor& x, double lo,
                            double hi) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return ops::sigmoid_range_backward(grad, x, lo, hi);
  }

  static variable_list backward(AutogradContext*, variable_list) {
    C10_THROW_ERROR(NotImplementedError,
                    "fastkp.sigmoid_range: double backward (a gradient of its gradient) is not supported");
  }
};

at::Tensor forward(const at::Tensor& x, double lo, double hi) {
  if (records(x)) return SigmoidRange::apply(x, lo, hi);
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return ops::sigmoid_range(x, lo, hi);
}

at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, double lo, double hi) {
  if (records(grad, x)) return SigmoidRangeBackward::apply(grad, x, lo, hi);
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return ops::sigmoid_range_backward(grad, x, lo, hi);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, Autograd, m) {
  m.impl("sigmoid_range", &forward);
  m.impl("sigmoid_range_backward", &backward);
}

}  // namespace fastkp::autograd
