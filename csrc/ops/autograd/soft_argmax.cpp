// Autograd of fastkp::soft_argmax in C++ (an Autograd-key kernel). Only coords
// is differentiable: peak (the largest probability, a confidence score) is
// marked non-differentiable, so it never requires grad and its gradient is
// never asked for.
//
// The backward recomputes the probabilities from the saved heatmaps (the
// input, held anyway while the graph lives, so saving costs no memory) and the
// forward's peak (= 1 / sum of the exponentials): one read pass for the max
// and one fused pass writing the gradient. Saving p itself would cost a
// (B, K, H, W) tensor and a write in the forward for one exp per cell saved.
#include <torch/autograd.h>
#include <torch/library.h>

#include "../ops.h"
#include "records.h"

namespace fastkp::autograd {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class SoftArgmax : public torch::autograd::Function<SoftArgmax> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& heatmaps, double beta) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [coords, peak] = ops::soft_argmax(heatmaps, beta);
    ctx->mark_non_differentiable({peak});
    ctx->save_for_backward({heatmaps, coords, peak});
    ctx->saved_data["beta"] = beta;
    return {coords, peak};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    // grads[1] (peak's) is ignored: peak is not differentiable.
    auto grad = ops::soft_argmax_backward(grads[0], saved[0], saved[1], saved[2], ctx->saved_data["beta"].toDouble());
    return {grad, at::Tensor()};
  }
};

// Records a node only under create_graph=True, to refuse double backward clearly.
class SoftArgmaxBackward : public torch::autograd::Function<SoftArgmaxBackward> {
 public:
  static at::Tensor forward(AutogradContext*, const at::Tensor& grad_coords, const at::Tensor& heatmaps,
                            const at::Tensor& coords, const at::Tensor& peak, double beta) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return ops::soft_argmax_backward(grad_coords, heatmaps, coords, peak, beta);
  }

  static variable_list backward(AutogradContext*, variable_list) {
    C10_THROW_ERROR(NotImplementedError,
                    "fastkp.soft_argmax: double backward (a gradient of its gradient) is not supported");
  }
};

std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& heatmaps, double beta) {
  if (records(heatmaps)) {
    auto out = SoftArgmax::apply(heatmaps, beta);
    return {out[0], out[1]};
  }
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return ops::soft_argmax(heatmaps, beta);
}

at::Tensor backward(const at::Tensor& grad_coords, const at::Tensor& heatmaps, const at::Tensor& coords,
                    const at::Tensor& peak, double beta) {
  if (records(grad_coords, heatmaps, coords)) {
    return SoftArgmaxBackward::apply(grad_coords, heatmaps, coords, peak, beta);
  }
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return ops::soft_argmax_backward(grad_coords, heatmaps, coords, peak, beta);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, Autograd, m) {
  m.impl("soft_argmax", &forward);
  m.impl("soft_argmax_backward", &backward);
}

}  // namespace fastkp::autograd
