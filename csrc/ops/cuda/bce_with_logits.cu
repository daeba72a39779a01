// CUDA implementation of fastkp::bce_with_logits and its backward.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <limits>
#include <type_traits>

#include "../checks.h"
#include "../math.h"
#include "launch.cuh"

namespace fastkp::cuda {
namespace {

using OptTensor = std::optional<at::Tensor>;

bool present(const OptTensor& t) { return t.has_value() && t->defined(); }

// in = x, target, [weight], [pos_weight]
template <typename A, bool W, bool P>
struct Loss {
  static constexpr int kIn = 2 + W + P;
  __device__ A operator()(const A (&in)[kIn]) const {
    A pw(1);
    if constexpr (P) pw = in[2 + W];
    A loss = math::bce_loss<P>(in[0], in[1], pw);
    if constexpr (W) loss = loss * in[2];
    return loss;
  }
  __device__ void operator()(const A (&in)[kIn], A (&out)[1]) const { out[0] = (*this)(in); }
};

// in = grad, x, target, [weight], [pos_weight]; out = grad_x, [grad_target]
template <typename A, bool W, bool P, bool GT>
struct Grad {
  static constexpr int kIn = 3 + W + P;
  A scale;
  __device__ void operator()(const A (&in)[kIn], A (&out)[1 + GT]) const {
    A pw(1);
    if constexpr (P) pw = in[3 + W];
    A g = in[0] * scale;
    if constexpr (W) g = g * in[3];
    out[0] = math::bce_grad_input<P>(in[1], in[2], pw) * g;
    if constexpr (GT) out[GT] = math::bce_grad_target<P>(in[1], pw) * g;
  }
};

template <typename F>
auto with_bool(bool b, const F& f) {
  return b ? f(std::true_type{}) : f(std::false_type{});
}

// Fills ins[first..] with x, target, [weight], [pos_weight].
template <typename T, int NOut, int NIn>
void set_inputs(Operands<T, NOut, NIn>& p, int first, const at::Tensor& x, const at::Tensor& t,
                const at::Tensor& w, const at::Tensor& pw) {
  int k = first;
  for (const at::Tensor* op : {&x, &t, &w, &pw}) {
    if (op->defined()) {
      p.in[k] = op->const_data_ptr<T>();
      p.scalar[k] = false;
      ++k;
    }
  }
}

// x (non-overlapping and dense) and the other operands in its layout; broadcast
// weights are expanded, since the kernels read every operand at full size.
struct Inputs {
  at::Tensor x, t, w, pw;
  Inputs(const at::Tensor& x, const at::Tensor& target, const OptTensor& weight, const OptTensor& pos_weight)
      : x(x),
        t(in_layout_of(x, target)),
        w(present(weight) ? in_layout_of(x, *weight) : at::Tensor()),
        pw(present(pos_weight) ? in_layout_of(x, *pos_weight) : at::Tensor()) {}
};

at::Tensor forward_impl(const at::Tensor& input, const at::Tensor& target, const OptTensor& weight,
                        const OptTensor& pos_weight, Reduction red, at::Tensor out) {
  c10::cuda::CUDAGuard guard(input.device());
  const int64_t n = input.numel();
  if (red == Reduction::None) {
    out.resize_(input.sizes());
  } else {
    out.resize_({});
  }
  // An unreduced loss is written in the layout of `dst`; a sum reads the
  // operands in the input's memory order.
  auto dst = out.is_non_overlapping_and_dense() ? out : at::empty_like(input);
  const Inputs in(red == Reduction::None ? in_layout_of(dst, input) : dense(input), target, weight, pos_weight);
  if (red == Reduction::Mean && n == 0) {
    dst.fill_(std::numeric_limits<double>::quiet_NaN());
  } else {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "fastkp_bce", [&] {
      using A = at::opmath_type<scalar_t>;
      with_bool(in.w.defined(), [&](auto W) {
        with_bool(in.pw.defined(), [&](auto P) {
          using F = Loss<A, decltype(W)::value, decltype(P)::value>;
          constexpr int kIn = F::kIn;
          if (red == Reduction::None) {
            Operands<scalar_t, 1, kIn> p;
            p.out[0] = dst.data_ptr<scalar_t>();
            set_inputs(p, 0, in.x, in.t, in.w, in.pw);
            elementwise(n, p, F{});
          } else {
            Operands<scalar_t, 0, kIn> p;
            set_inputs(p, 0, in.x, in.t, in.w, in.pw);
            double scale = red == Reduction::Mean ? 1.0 / double(n) : 1.0;
            sum(n, p, F{}, scale, dst);
          }
          return 0;
        });
        return 0;
      });
    });
  }
  if (!dst.is_same(out)) out.copy_(dst);
  return out;
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
  forward_impl(input, target, weight, pos_weight, red, out);
  return out;
}

std::tuple<at::Tensor, at::Tensor> backward(const at::Tensor& grad, const at::Tensor& input,
                                            const at::Tensor& target, const OptTensor& weight,
                                            const OptTensor& pos_weight, int64_t reduction,
                                            bool target_grad) {
  Reduction red = check_bce(input, target, weight, pos_weight, reduction);
  check_bce_grad(grad, input, red);
  c10::cuda::CUDAGuard guard(input.device());
  const int64_t n = input.numel();
  // Both gradients are computed in grad_input's layout; grad_target, like the
  // fake kernel's, follows target's and receives a copy if that differs.
  auto grad_input = at::empty_like(input);
  auto grad_target = target_grad ? at::empty_like(target) : at::empty({0}, input.options());
  auto gt = !target_grad || grad_target.strides() == grad_input.strides() ? grad_target : at::empty_like(grad_input);
  const Inputs in(in_layout_of(grad_input, input), target, weight, pos_weight);
  // A reduced loss's grad is one value, broadcast over every element.
  auto g = red == Reduction::None ? in_layout_of(grad_input, grad) : grad.reshape({}).contiguous();
  const double scale = red == Reduction::Mean ? 1.0 / double(std::max<int64_t>(n, 1)) : 1.0;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "fastkp_bce_backward", [&] {
    using A = at::opmath_type<scalar_t>;
    with_bool(in.w.defined(), [&](auto W) {
      with_bool(in.pw.defined(), [&](auto P) {
        with_bool(target_grad, [&](auto GT) {
          constexpr bool kGT = decltype(GT)::value;
          using F = Grad<A, decltype(W)::value, decltype(P)::value, kGT>;
          Operands<scalar_t, 1 + kGT, F::kIn> p;
          p.out[0] = grad_input.data_ptr<scalar_t>();
          if constexpr (kGT) p.out[1] = gt.data_ptr<scalar_t>();
          p.in[0] = g.const_data_ptr<scalar_t>();
          p.scalar[0] = red != Reduction::None;
          set_inputs(p, 1, in.x, in.t, in.w, in.pw);
          elementwise(n, p, F{A(scale)});
          return 0;
        });
        return 0;
      });
      return 0;
    });
  });
  if (!gt.is_same(grad_target)) grad_target.copy_(gt);
  return {grad_input, grad_target};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastkp, CUDA, m) {
  m.impl("bce_with_logits", &forward);
  m.impl("bce_with_logits.out", &forward_out);
  m.impl("bce_with_logits_backward", &backward);
}

}  // namespace fastkp::cuda
