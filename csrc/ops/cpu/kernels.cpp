// CPU inner loops. Built once per CPU_CAPABILITY (DEFAULT, AVX2, AVX512) with
// matching compiler flags; ATen's Vectorized then maps to that instruction set.
#include "kernels.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "vec_math.h"

namespace fastkp::cpu {
namespace CPU_CAPABILITY {
namespace {

using at::vec::Vectorized;
namespace m = fastkp::math;

// float and double run through Vectorized; half types convert per element
// and compute in float.
template <typename T>
constexpr bool kVectorized = std::is_same_v<T, at::opmath_type<T>>;

// The SIMD path needs every output contiguous and every input contiguous or
// broadcast (stride 0) along the run.
template <typename T>
bool simd_ok(const Run& r, int n_out, int n_in) {
  for (int k = 0; k < n_out + n_in; ++k) {
    int64_t s = r.strides[k];
    if (s != int64_t(sizeof(T)) && !(k >= n_out && s == 0)) return false;
  }
  return true;
}

template <typename T, int NIn>
struct VecInputs {
  using V = Vectorized<T>;
  std::array<const char*, NIn> ptr;
  std::array<bool, NIn> bcast;
  std::array<V, NIn> splat;

  VecInputs(const Run& r, int first) {
    for (int k = 0; k < NIn; ++k) {
      ptr[k] = r.data[first + k];
      bcast[k] = r.strides[first + k] == 0;
      splat[k] = V(*reinterpret_cast<const T*>(ptr[k]));
    }
  }
  std::array<V, NIn> load(int64_t i, int64_t count = V::size()) const {
    std::array<V, NIn> v;
    for (int k = 0; k < NIn; ++k) {
      v[k] = bcast[k] ? splat[k] : V::loadu(ptr[k] + i * int64_t(sizeof(T)), count);
    }
    return v;
  }
};

template <typename T, int NIn>
std::array<at::opmath_type<T>, NIn> load_scalar(const Run& r, int first, int64_t i) {
  std::array<at::opmath_type<T>, NIn> v;
  for (int k = 0; k < NIn; ++k) {
    v[k] = static_cast<at::opmath_type<T>>(
        *reinterpret_cast<const T*>(r.data[first + k] + i * r.strides[first + k]));
  }
  return v;
}

// out[k][i] = op(in[0][i], ...)[k] over the run. `op` is generic over the
// value type so the same expression serves scalars and SIMD registers.
template <typename T, int NOut, int NIn, typename Op>
void elementwise(const Run& r, const Op& op) {
  if constexpr (kVectorized<T>) {
    if (simd_ok<T>(r, NOut, NIn)) {
      using V = Vectorized<T>;
      VecInputs<T, NIn> in(r, NOut);
      int64_t i = 0;
      for (; i + V::size() <= r.n; i += V::size()) {
        auto out = op(in.load(i));
        for (int k = 0; k < NOut; ++k) out[k].store(r.data[k] + i * int64_t(sizeof(T)));
      }
      if (i < r.n) {
        int64_t count = r.n - i;
        auto out = op(in.load(i, count));
        for (int k = 0; k < NOut; ++k) out[k].store(r.data[k] + i * int64_t(sizeof(T)), count);
      }
      return;
    }
  }
  for (int64_t i = 0; i < r.n; ++i) {
    auto out = op(load_scalar<T, NIn>(r, NOut, i));
    for (int k = 0; k < NOut; ++k) {
      *reinterpret_cast<T*>(r.data[k] + i * r.strides[k]) = static_cast<T>(out[k]);
    }
  }
}

// Sum of op(in...) over the run, accumulated in SIMD lanes over short blocks
// and in double across blocks (accurate for any run length).
template <typename T, int NIn, typename Op>
double sum(const Run& r, const Op& op) {
  double total = 0;
  int64_t i = 0;
  if constexpr (kVectorized<T>) {
    if (simd_ok<T>(r, 0, NIn)) {
      using V = Vectorized<T>;
      constexpr int64_t kBlock = 64 * V::size();
      VecInputs<T, NIn> in(r, 0);
      int64_t simd_end = r.n - r.n % V::size();
      while (i < simd_end) {
        int64_t block_end = std::min(simd_end, i + kBlock);
        V acc(T(0));
        for (; i < block_end; i += V::size()) acc = acc + op(in.load(i));
        alignas(64) T lanes[V::size()];
        acc.store(lanes);
        for (int j = 0; j < V::size(); ++j) total += lanes[j];
      }
    }
  }
  for (; i < r.n; ++i) total += double(op(load_scalar<T, NIn>(r, 0, i)));
  return total;
}

template <typename T>
void sigmoid_range_forward_impl(const Run& r, double lo, double hi) {
  using A = at::opmath_type<T>;
  const A lo_ = A(lo), scale = A(hi - lo);
  elementwise<T, 1, 1>(r, [&](const auto& in) {
    using U = std::decay_t<decltype(in[0])>;
    return std::array<U, 1>{m::sigmoid_range_forward(in[0], U(lo_), U(scale))};
  });
}

template <typename T>
void sigmoid_range_backward_impl(const Run& r, double lo, double hi) {
  using A = at::opmath_type<T>;
  const A scale = A(hi - lo);
  elementwise<T, 1, 2>(r, [&](const auto& in) {
    using U = std::decay_t<decltype(in[0])>;
    return std::array<U, 1>{m::sigmoid_range_backward(in[0], in[1], U(scale))};
  });
}

// in = x, target, [weight], [pos_weight].
template <bool W, bool P, typename U, size_t N>
U bce_loss_at(const std::array<U, N>& in) {
  U pw(1);
  if constexpr (P) pw = in[2 + W];
  U loss = m::bce_loss<P>(in[0], in[1], pw);
  if constexpr (W) loss = loss * in[2];
  return loss;
}

template <typename T, bool W, bool P>
double bce_forward_impl(const Run& r, bool write_loss) {
  constexpr int NIn = 2 + W + P;
  if (write_loss) {
    elementwise<T, 1, NIn>(r, [](const auto& in) {
      using U = std::decay_t<decltype(in[0])>;
      return std::array<U, 1>{bce_loss_at<W, P>(in)};
    });
    return 0;
  }
  return sum<T, NIn>(r, [](const auto& in) { return bce_loss_at<W, P>(in); });
}

template <typename T, bool W, bool P, bool GT>
void bce_backward_impl(const Run& r, double scale) {
  using A = at::opmath_type<T>;
  constexpr int NIn = 3 + W + P;  // grad, x, target, [weight], [pos_weight]
  const A scale_ = A(scale);
  elementwise<T, 1 + GT, NIn>(r, [&](const auto& in) {
    using U = std::decay_t<decltype(in[0])>;
    const U& x = in[1];
    U pw(1);
    if constexpr (P) pw = in[3 + W];
    U g = in[0] * U(scale_);
    if constexpr (W) g = g * in[3];
    std::array<U, 1 + GT> out;
    out[0] = m::bce_grad_input<P>(x, in[2], pw) * g;
    if constexpr (GT) out[GT] = m::bce_grad_target<P>(x, pw) * g;
    return out;
  });
}

// ---- soft_argmax: one map at a time, SIMD along each row ---------------------------
//
// Rows are walked in whole registers, the last one of each row masked, so the
// x centres of a register are the same for every row (precomputed once per
// call) and no horizontal sum happens before the map's end.

template <typename T>
struct CellCentres {
  std::vector<T> x;  // W centres, then zeros to a whole register
  explicit CellCentres(int64_t W) : x(W + Vectorized<T>::size(), T(0)) {
    for (int64_t j = 0; j < W; ++j) x[j] = m::cell_centre<T>(j, W);
  }
};

template <typename T>
T lane_sum(const Vectorized<T>& v) {
  alignas(64) T lanes[Vectorized<T>::size()];
  v.store(lanes);
  T s = 0;
  for (int j = 0; j < Vectorized<T>::size(); ++j) s += lanes[j];
  return s;
}

// m = max(beta * h) over n values (NaN if any is NaN).
template <typename T>
T scaled_max(const T* h, int64_t n, T beta) {
  using V = Vectorized<T>;
  const V vb(beta);
  V acc(-std::numeric_limits<T>::infinity());
  int64_t i = 0;
  for (; i + V::size() <= n; i += V::size()) acc = m::max_(acc, V::loadu(h + i) * vb);
  alignas(64) T lanes[V::size()];
  acc.store(lanes);
  T mx = -std::numeric_limits<T>::infinity();
  for (int j = 0; j < V::size(); ++j) mx = m::max_(mx, lanes[j]);
  for (; i < n; ++i) mx = m::max_(mx, h[i] * beta);
  return mx;
}

template <typename T>
void soft_argmax_forward_impl(const SoftArgmaxArgs& a, int64_t begin, int64_t end) {
  using V = Vectorized<T>;
  const int64_t H = a.H, W = a.W, n = H * W;
  const T beta = T(a.beta);
  const V vb(beta);
  const CellCentres<T> xs(W);
  for (int64_t k = begin; k < end; ++k) {
    const T* h = static_cast<const T*>(a.heatmaps) + k * n;
    const T mx = scaled_max(h, n, beta);
    if (!std::isfinite(mx)) {  // a NaN, or +-inf at the max: NaN throughout, as softmax gives
      const T nan = std::numeric_limits<T>::quiet_NaN();
      static_cast<T*>(a.peak)[k] = static_cast<T*>(a.coords)[2 * k] = static_cast<T*>(a.coords)[2 * k + 1] = nan;
      continue;
    }
    const V vm(mx);
    V sum(T(0)), sum_x(T(0)), sum_y(T(0));
    for (int64_t i = 0; i < H; ++i) {
      const T* row = h + i * W;
      V row_sum(T(0)), row_x(T(0));
      for (int64_t j = 0; j < W; j += V::size()) {
        const int64_t count = std::min<int64_t>(V::size(), W - j);
        V e = m::soft_argmax_weight(V::loadu(row + j, count), vb, vm);
        if (count < V::size()) e = V::set(V(T(0)), e, count);
        row_sum = row_sum + e;
        row_x = at::vec::fmadd(e, V::loadu(xs.x.data() + j), row_x);
      }
      sum = sum + row_sum;
      sum_x = sum_x + row_x;
      sum_y = at::vec::fmadd(row_sum, V(m::cell_centre<T>(i, H)), sum_y);
    }
    const T s = lane_sum(sum);
    static_cast<T*>(a.peak)[k] = T(1) / s;
    static_cast<T*>(a.coords)[2 * k] = lane_sum(sum_x) / s;
    static_cast<T*>(a.coords)[2 * k + 1] = lane_sum(sum_y) / s;
  }
}

template <typename T>
void soft_argmax_backward_impl(const SoftArgmaxGradArgs& a, int64_t begin, int64_t end) {
  using V = Vectorized<T>;
  const int64_t H = a.H, W = a.W, n = H * W;
  const T beta = T(a.beta);
  const V vb(beta);
  const CellCentres<T> xs(W);
  const T* grad_coords = static_cast<const T*>(a.grad_coords);
  const T* coords = static_cast<const T*>(a.coords);
  for (int64_t k = begin; k < end; ++k) {
    const T* h = static_cast<const T*>(a.heatmaps) + k * n;
    T* out = static_cast<T*>(a.grad_heatmaps) + k * n;
    const T mx = scaled_max(h, n, beta);
    if (!std::isfinite(mx)) {
      std::fill(out, out + n, std::numeric_limits<T>::quiet_NaN());
      continue;
    }
    const V vm(mx);
    const V peak(static_cast<const T*>(a.peak)[k]);
    const V gx(grad_coords[2 * k]), gy(grad_coords[2 * k + 1]);
    const V cx(coords[2 * k]), cy(coords[2 * k + 1]);
    for (int64_t i = 0; i < H; ++i) {
      const V y(m::cell_centre<T>(i, H));
      const T* row = h + i * W;
      T* out_row = out + i * W;
      for (int64_t j = 0; j < W; j += V::size()) {
        const int64_t count = std::min<int64_t>(V::size(), W - j);
        V p = m::soft_argmax_weight(V::loadu(row + j, count), vb, vm) * peak;
        V g = m::soft_argmax_grad(p, vb, gx, V::loadu(xs.x.data() + j), cx, gy, y, cy);
        g.store(out_row + j, count);
      }
    }
  }
}

template <typename F>
void dispatch(c10::ScalarType dtype, const F& f) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "fastkp_cpu", [&] {
    f(scalar_t(0));
  });
}

// Turns run-time flags into template arguments.
template <typename F>
auto with_bool(bool b, const F& f) {
  return b ? f(std::true_type{}) : f(std::false_type{});
}

void sigmoid_range_forward(c10::ScalarType dtype, const Run& r, double lo, double hi) {
  dispatch(dtype, [&](auto t) { sigmoid_range_forward_impl<decltype(t)>(r, lo, hi); });
}

void sigmoid_range_backward(c10::ScalarType dtype, const Run& r, double lo, double hi) {
  dispatch(dtype, [&](auto t) { sigmoid_range_backward_impl<decltype(t)>(r, lo, hi); });
}

double bce_forward(c10::ScalarType dtype, const Run& r, BceFlags f) {
  double total = 0;
  dispatch(dtype, [&](auto t) {
    total = with_bool(f.weight, [&](auto w) {
      return with_bool(f.pos_weight, [&](auto p) {
        return bce_forward_impl<decltype(t), decltype(w)::value, decltype(p)::value>(r, f.write_loss);
      });
    });
  });
  return total;
}

void bce_backward(c10::ScalarType dtype, const Run& r, BceFlags f, double scale) {
  dispatch(dtype, [&](auto t) {
    with_bool(f.weight, [&](auto w) {
      with_bool(f.pos_weight, [&](auto p) {
        with_bool(f.grad_target, [&](auto gt) {
          bce_backward_impl<decltype(t), decltype(w)::value, decltype(p)::value,
                            decltype(gt)::value>(r, scale);
          return 0;
        });
        return 0;
      });
      return 0;
    });
  });
}

}  // namespace

void soft_argmax_forward(c10::ScalarType dtype, const SoftArgmaxArgs& a, int64_t begin, int64_t end) {
  AT_DISPATCH_FLOATING_TYPES(dtype, "fastkp_soft_argmax", [&] { soft_argmax_forward_impl<scalar_t>(a, begin, end); });
}

void soft_argmax_backward(c10::ScalarType dtype, const SoftArgmaxGradArgs& a, int64_t begin, int64_t end) {
  AT_DISPATCH_FLOATING_TYPES(dtype, "fastkp_soft_argmax_backward",
                             [&] { soft_argmax_backward_impl<scalar_t>(a, begin, end); });
}

void transpose(c10::ScalarType dtype, const void* src, int64_t ld_src, void* dst, int64_t ld_dst, int64_t rows,
               int64_t cols) {
  AT_DISPATCH_FLOATING_TYPES(dtype, "fastkp_transpose", [&] {
    const auto* s = static_cast<const scalar_t*>(src);
    auto* d = static_cast<scalar_t*>(dst);
    // at::vec::transpose_mxn takes int sizes: strips of at most 2^20 rows and columns.
    constexpr int64_t kStrip = int64_t(1) << 20;
    for (int64_t i = 0; i < rows; i += kStrip)
      for (int64_t j = 0; j < cols; j += kStrip)
        at::vec::transpose_mxn<scalar_t>(s + i * ld_src + j, ld_src, d + j * ld_dst + i, ld_dst,
                                         int(std::min(kStrip, rows - i)), int(std::min(kStrip, cols - j)));
  });
}

#define FASTKP_STR2(x) #x
#define FASTKP_STR(x) FASTKP_STR2(x)

// One table per capability; each build lives in its own namespace.
const Kernels& table() {
  static const Kernels k{FASTKP_STR(CPU_CAPABILITY), sigmoid_range_forward,
                         sigmoid_range_backward, bce_forward, bce_backward,
                         soft_argmax_forward,   soft_argmax_backward,   transpose};
  return k;
}

}  // namespace CPU_CAPABILITY
}  // namespace fastkp::cpu
