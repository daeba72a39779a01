// The math.h primitives for ATen's Vectorized types, so the shared formulas
// also evaluate a whole SIMD register at a time. Must be included instead of
// math.h: the overloads have to be visible where the formulas are defined.
#pragma once

#include <ATen/cpu/vec/vec.h>

namespace fastkp::math {

template <typename T>
inline at::vec::Vectorized<T> exp_(const at::vec::Vectorized<T>& x) { return x.exp(); }
// ATen's faster exp (float: a polynomial, exact at 0, no NaN propagation; double: exp).
template <typename T>
inline at::vec::Vectorized<T> fast_exp_(const at::vec::Vectorized<T>& x) { return x.exp_u20(); }
template <typename T>
inline at::vec::Vectorized<T> log1p_(const at::vec::Vectorized<T>& x) { return x.log1p(); }
template <typename T>
inline at::vec::Vectorized<T> abs_(const at::vec::Vectorized<T>& x) { return x.abs(); }
template <typename T>
inline at::vec::Vectorized<T> min_(const at::vec::Vectorized<T>& a, const at::vec::Vectorized<T>& b) {
  return at::vec::minimum(a, b);
}
template <typename T>
inline at::vec::Vectorized<T> max_(const at::vec::Vectorized<T>& a, const at::vec::Vectorized<T>& b) {
  return at::vec::maximum(a, b);
}

}  // namespace fastkp::math

#include "../math.h"
