#include "checks.h"

#include <ATen/ExpandUtils.h>

#include <cmath>

namespace fastkp {
namespace {

void check_like(const at::Tensor& t, const at::Tensor& ref, const char* op, const char* arg,
                const char* ref_name) {
  check_floating(t, op, arg);
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), op, ": ", arg, " has dtype ", t.scalar_type(),
              " but ", ref_name, " has dtype ", ref.scalar_type(), "; they must match");
  TORCH_CHECK(t.device() == ref.device(), op, ": ", arg, " is on ", t.device(), " but ", ref_name,
              " is on ", ref.device(), "; they must be on the same device");
}

void check_broadcasts_to(const at::Tensor& t, const at::Tensor& input, const char* op,
                         const char* arg) {
  check_like(t, input, op, arg, "input");
  TORCH_CHECK(at::is_expandable_to(t.sizes(), input.sizes()), op, ": ", arg, " of shape ",
              t.sizes(), " cannot be broadcast to the input shape ", input.sizes());
}

}  // namespace

void check_floating(const at::Tensor& t, const char* op, const char* arg) {
  TORCH_CHECK(t.defined(), op, ": ", arg, " is an undefined tensor");
  auto dt = t.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble || dt == at::kHalf || dt == at::kBFloat16, op,
              ": ", arg, " must be a float32, float64, float16 or bfloat16 tensor, got ", dt);
  TORCH_CHECK(t.layout() == at::kStrided, op, ": ", arg, " must be a dense (strided) tensor");
}

void check_out(const at::Tensor& out, const at::Tensor& ref, const char* op, const char* ref_name) {
  check_like(out, ref, op, "out", ref_name);
}

void check_sigmoid_range(const at::Tensor& x, double lo, double hi) {
  check_floating(x, "fastkp.sigmoid_range", "x");
  TORCH_CHECK(std::isfinite(lo) && std::isfinite(hi),
              "fastkp.sigmoid_range: lo and hi must be finite, got lo=", lo, ", hi=", hi);
}

void check_sigmoid_range_backward(const at::Tensor& grad, const at::Tensor& x, double lo,
                                  double hi) {
  check_sigmoid_range(x, lo, hi);
  check_like(grad, x, "fastkp.sigmoid_range_backward", "grad", "x");
  TORCH_CHECK(grad.sizes() == x.sizes(), "fastkp.sigmoid_range_backward: grad of shape ",
              grad.sizes(), " must match x of shape ", x.sizes());
}

void check_soft_argmax(const at::Tensor& heatmaps, double beta) {
  const char* op = "fastkp.soft_argmax";
  TORCH_CHECK(heatmaps.defined(), op, ": heatmaps is an undefined tensor");
  auto dt = heatmaps.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, op,
              ": heatmaps must be a float32 or float64 tensor (half types compute in float32 under "
              "autocast), got ", dt);
  TORCH_CHECK(heatmaps.layout() == at::kStrided, op, ": heatmaps must be a dense (strided) tensor");
  TORCH_CHECK(heatmaps.dim() == 4, op, ": heatmaps must be a 4-D (B, K, H, W) tensor, got shape ",
              heatmaps.sizes());
  TORCH_CHECK(heatmaps.size(2) > 0 && heatmaps.size(3) > 0, op,
              ": heatmaps must have H and W of at least 1, got shape ", heatmaps.sizes());
  TORCH_CHECK(std::isfinite(beta), op, ": beta must be finite, got ", beta);
}

bool soft_argmax_channels_last(const at::Tensor& heatmaps) {
  return heatmaps.dim() == 4 && !heatmaps.is_contiguous() &&
         heatmaps.is_contiguous(at::MemoryFormat::ChannelsLast);
}

void check_soft_argmax_backward(const at::Tensor& grad_coords, const at::Tensor& heatmaps,
                                const at::Tensor& coords, const at::Tensor& peak, double beta) {
  const char* op = "fastkp.soft_argmax_backward";
  check_soft_argmax(heatmaps, beta);
  const auto b = heatmaps.size(0), k = heatmaps.size(1);
  auto like = [&](const at::Tensor& t, const char* arg, at::IntArrayRef shape) {
    check_like(t, heatmaps, op, arg, "heatmaps");
    TORCH_CHECK(t.sizes() == shape, op, ": ", arg, " of shape ", t.sizes(), " must have shape ", shape,
                " for heatmaps of shape ", heatmaps.sizes());
  };
  like(grad_coords, "grad_coords", {b, k, 2});
  like(coords, "coords", {b, k, 2});
  like(peak, "peak", {b, k});
}

Reduction check_bce(const at::Tensor& input, const at::Tensor& target,
                    const std::optional<at::Tensor>& weight,
                    const std::optional<at::Tensor>& pos_weight, int64_t reduction) {
  const char* op = "fastkp.bce_with_logits";
  check_floating(input, op, "input");
  check_like(target, input, op, "target", "input");
  TORCH_CHECK(target.sizes() == input.sizes(), op, ": target of shape ", target.sizes(),
              " must have the same shape as input ", input.sizes());
  if (weight && weight->defined()) check_broadcasts_to(*weight, input, op, "weight");
  if (pos_weight && pos_weight->defined()) check_broadcasts_to(*pos_weight, input, op, "pos_weight");
  TORCH_CHECK(reduction >= 0 && reduction <= 2, op,
              ": reduction must be 0 (none), 1 (mean) or 2 (sum), got ", reduction);
  return static_cast<Reduction>(reduction);
}

void check_bce_grad(const at::Tensor& grad, const at::Tensor& input, Reduction reduction) {
  const char* op = "fastkp.bce_with_logits_backward";
  check_like(grad, input, op, "grad", "input");
  if (reduction == Reduction::None) {
    TORCH_CHECK(grad.sizes() == input.sizes(), op, ": grad of shape ", grad.sizes(),
                " must match input of shape ", input.sizes());
  } else {
    TORCH_CHECK(grad.numel() == 1, op, ": a reduced loss needs a single-element grad, got shape ",
                grad.sizes());
  }
}

}  // namespace fastkp
