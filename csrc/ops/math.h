// Scalar math of the fused operators, shared by the CPU and CUDA kernels.
//
// Every formula is a template over the value type T and calls only the
// primitives below (exp_, log1p_, abs_, min_, max_), so one definition serves
// float and double on both host and device, and ATen's Vectorized<float/double>
// on the CPU (cpu/vec_math.h adds the primitives for those). The CPU tests
// therefore check the very expressions the GPU evaluates.
//
// The formulas follow PyTorch's own composites term by term (same operation
// order), so results agree to rounding:
//   sigmoid_range(x) = sigmoid(x) * (hi - lo) + lo
//   log_sigmoid(x)   = min(x, 0) - log1p(exp(-|x|))          (never overflows)
//   bce(x, t)        = (1 - t) * x - lw * log_sigmoid(x),  lw = 1 + (pw - 1) * t
//
// soft_argmax of one (H, W) map h: p = softmax(beta * h) over its H*W cells,
// written as p_ij = e_ij * peak with e_ij = exp(beta * h_ij - m), m = max(beta * h)
// (so the largest e is exactly 1) and peak = 1 / sum(e) = max(p);
//   coords = (sum p_ij x_j, sum p_ij y_i),  x_j = (2j + 1) / W - 1,  y_i = (2i + 1) / H - 1
// (cell centres in fastkp's [-1, 1] frame), and
//   d coords . (gx, gy) / d h_ij = beta * p_ij * (gx * (x_j - cx) + gy * (y_i - cy)).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define FASTKP_HD __host__ __device__ __forceinline__
#else
#define FASTKP_HD inline
#endif

namespace fastkp::math {

FASTKP_HD float exp_(float x) { return ::expf(x); }
FASTKP_HD double exp_(double x) { return ::exp(x); }
// exp where a few ulp (ATen's exp_u20 on the CPU, 1e-6 relative) are fine and speed
// matters; exact at 0. Scalars (and the GPU) use exp_.
FASTKP_HD float fast_exp_(float x) { return ::expf(x); }
FASTKP_HD double fast_exp_(double x) { return ::exp(x); }
FASTKP_HD float log1p_(float x) { return ::log1pf(x); }
FASTKP_HD double log1p_(double x) { return ::log1p(x); }
FASTKP_HD float abs_(float x) { return ::fabsf(x); }
FASTKP_HD double abs_(double x) { return ::fabs(x); }
// NaN-propagating, like ATen's minimum/maximum.
template <typename T>
FASTKP_HD T min_(T a, T b) { return (a < b || a != a) ? a : b; }
template <typename T>
FASTKP_HD T max_(T a, T b) { return (a > b || a != a) ? a : b; }

template <typename T>
FASTKP_HD T sigmoid(T x) {
  return T(1) / (T(1) + exp_(-x));
}

template <typename T>
FASTKP_HD T log_sigmoid(T x) {
  return min_(x, T(0)) - log1p_(exp_(-abs_(x)));
}

// y = sigmoid(x) * scale + lo, with scale = hi - lo.
template <typename T>
FASTKP_HD T sigmoid_range_forward(T x, T lo, T scale) {
  return sigmoid(x) * scale + lo;
}

// dy/dx * g, recomputing sigmoid from x (exact even where y saturates).
template <typename T>
FASTKP_HD T sigmoid_range_backward(T g, T x, T scale) {
  T s = sigmoid(x);
  return g * scale * (T(1) - s) * s;
}

// Unweighted per-element loss. HasPosWeight selects PyTorch's two forms so
// that the plain loss does not pay (or round through) the pos_weight terms.
template <bool HasPosWeight, typename T>
FASTKP_HD T bce_loss(T x, T t, T pos_weight) {
  T ls = log_sigmoid(x);
  if constexpr (HasPosWeight) {
    ls = (T(1) + (pos_weight - T(1)) * t) * ls;
  }
  return (T(1) - t) * x - ls;
}

// d loss / d x (before weight and incoming gradient).
template <bool HasPosWeight, typename T>
FASTKP_HD T bce_grad_input(T x, T t, T pos_weight) {
  T s = sigmoid(x);
  if constexpr (HasPosWeight) {
    T pt = pos_weight * t;
    return (pt + T(1) - t) * s - pt;
  } else {
    return s - t;
  }
}

// d loss / d t (before weight and incoming gradient).
template <bool HasPosWeight, typename T>
FASTKP_HD T bce_grad_target(T x, T pos_weight) {
  if constexpr (HasPosWeight) {
    // log_sigmoid(-x) - pw * log_sigmoid(x), sharing log1p(exp(-|x|)).
    T l = log1p_(exp_(-abs_(x)));
    return (min_(-x, T(0)) - l) - pos_weight * (min_(x, T(0)) - l);
  } else {
    return -x;
  }
}

// ---- soft_argmax ----------------------------------------------------------------

// Centre of cell i of n along one axis, in [-1, 1]: (2i + 1) / n - 1.
template <typename T>
FASTKP_HD T cell_centre(int64_t i, int64_t n) {
  return T(2 * i + 1) / T(n) - T(1);
}

// The unnormalised weight e = exp(beta * h - m) of a cell (m = max(beta * h), so
// e <= 1, and e = 1 at the maximum). The callers handle a NaN m (a NaN in the map)
// themselves: the CPU's fast exp does not propagate NaN.
template <typename T>
FASTKP_HD T soft_argmax_weight(T h, T beta, T m) {
  return fast_exp_(h * beta - m);
}

// d coords . (gx, gy) / d h of a cell with probability p, centre (x, y), the
// map's coords (cx, cy).
template <typename T>
FASTKP_HD T soft_argmax_grad(T p, T beta, T gx, T x, T cx, T gy, T y, T cy) {
  return beta * p * (gx * (x - cx) + gy * (y - cy));
}

}  // namespace fastkp::math
