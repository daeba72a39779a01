// Grid-stride elementwise and sum kernels shared by the CUDA operators.
// Every operand holds n elements in one memory order (see in_layout_of), or is
// a single value broadcast to all (`scalar`); loads and stores are 16-byte
// vectors when all pointers are aligned. Values are computed in
// at::opmath_type (float for half types).
#pragma once

#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <cstdint>

namespace fastkp::cuda {

constexpr int kThreads = 256;

// `t` broadcast to the sizes of `like` (non-overlapping and dense) and laid
// out with its strides, copied only when it is not already: the kernels then
// walk every operand's storage in one order, and outputs keep the input's
// memory format as TensorIterator (and the fake kernels' empty_like) do.
inline at::Tensor in_layout_of(const at::Tensor& like, const at::Tensor& t) {
  if (t.sizes() == like.sizes() && t.strides() == like.strides()) return t;
  return at::empty_like(like).copy_(t.expand(like.sizes()));
}

// `t` itself when its storage can be walked as n consecutive elements.
inline at::Tensor dense(const at::Tensor& t) { return t.is_non_overlapping_and_dense() ? t : t.contiguous(); }

template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <typename T>
constexpr int kVec = 16 / sizeof(T);

template <typename T, int NOut, int NIn>
struct Operands {
  T* out[NOut > 0 ? NOut : 1];
  const T* in[NIn];
  bool scalar[NIn];
};

// Enough blocks to fill every SM a few times over; the loops stride the rest.
inline int grid_for(int64_t items) {
  int sms = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, c10::cuda::current_device()));
  const int64_t blocks = (items + kThreads - 1) / kThreads;
  return int(std::clamp<int64_t>(blocks, 1, int64_t(sms) * 8));
}

template <typename T, int NOut, int NIn>
bool vector_aligned(const Operands<T, NOut, NIn>& p) {
  auto ok = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  for (int k = 0; k < NOut; ++k) if (!ok(p.out[k])) return false;
  for (int k = 0; k < NIn; ++k) if (!p.scalar[k] && !ok(p.in[k])) return false;
  return true;
}

// Loads VEC consecutive elements of every input starting at element i.
template <typename T, int VEC, int NOut, int NIn>
__device__ __forceinline__ void load_inputs(const Operands<T, NOut, NIn>& p, int64_t i,
                                            at::opmath_type<T> (&a)[VEC][NIn]) {
  using A = at::opmath_type<T>;
#pragma unroll
  for (int k = 0; k < NIn; ++k) {
    if (p.scalar[k]) {
      A s = A(p.in[k][0]);
#pragma unroll
      for (int j = 0; j < VEC; ++j) a[j][k] = s;
    } else {
      Pack<T, VEC> v = *reinterpret_cast<const Pack<T, VEC>*>(p.in[k] + i);
#pragma unroll
      for (int j = 0; j < VEC; ++j) a[j][k] = A(v.v[j]);
    }
  }
}

template <typename T, int VEC, int NOut, int NIn, typename F>
__device__ __forceinline__ void elementwise_step(const Operands<T, NOut, NIn>& p, int64_t i,
                                                 const F& f) {
  using A = at::opmath_type<T>;
  A a[VEC][NIn];
  load_inputs<T, VEC>(p, i, a);
  Pack<T, VEC> out[NOut];
#pragma unroll
  for (int j = 0; j < VEC; ++j) {
    A o[NOut];
    f(a[j], o);
#pragma unroll
    for (int k = 0; k < NOut; ++k) out[k].v[j] = T(o[k]);
  }
#pragma unroll
  for (int k = 0; k < NOut; ++k) *reinterpret_cast<Pack<T, VEC>*>(p.out[k] + i) = out[k];
}

template <typename T, int VEC, int NOut, int NIn, typename F>
__global__ void elementwise_kernel(int64_t n, Operands<T, NOut, NIn> p, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t body = n / VEC * VEC;
  for (int64_t i = first * VEC; i < body; i += stride * VEC) elementwise_step<T, VEC>(p, i, f);
  for (int64_t i = body + first; i < n; i += stride) elementwise_step<T, 1>(p, i, f);
}

// out[k][i] = f(in[0][i], ...)[k]; f(const A (&in)[NIn], A (&out)[NOut]).
template <typename T, int NOut, int NIn, typename F>
void elementwise(int64_t n, const Operands<T, NOut, NIn>& p, const F& f) {
  if (n == 0) return;
  auto stream = c10::cuda::getCurrentCUDAStream();
  if (vector_aligned(p)) {
    constexpr int V = kVec<T>;
    elementwise_kernel<T, V><<<grid_for((n + V - 1) / V), kThreads, 0, stream>>>(n, p, f);
  } else {
    elementwise_kernel<T, 1><<<grid_for(n), kThreads, 0, stream>>>(n, p, f);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T, int VEC, int NIn, typename F>
__device__ __forceinline__ at::opmath_type<T> sum_step(const Operands<T, 0, NIn>& p, int64_t i,
                                                       const F& f) {
  using A = at::opmath_type<T>;
  A a[VEC][NIn];
  load_inputs<T, VEC>(p, i, a);
  A acc = 0;
#pragma unroll
  for (int j = 0; j < VEC; ++j) acc += f(a[j]);
  return acc;
}

// Each block writes the sum of f over its share to partial[blockIdx.x].
template <typename T, int VEC, int NIn, typename F>
__global__ void sum_kernel(int64_t n, Operands<T, 0, NIn> p, F f, double* partial) {
  using A = at::opmath_type<T>;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t body = n / VEC * VEC;
  A acc = 0;
  for (int64_t i = first * VEC; i < body; i += stride * VEC) acc += sum_step<T, VEC>(p, i, f);
  for (int64_t i = body + first; i < n; i += stride) acc += sum_step<T, 1>(p, i, f);
  __shared__ double shared[kThreads];
  shared[threadIdx.x] = double(acc);
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

// out[0] = T(scale * sum(partial)), summed in a fixed order (deterministic).
template <typename T>
__global__ void finish_sum_kernel(const double* partial, int count, double scale, T* out) {
  __shared__ double shared[kThreads];
  double acc = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  shared[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = T(shared[0] * scale);
}

// out (a one-element tensor of dtype T) = scale * sum_i f(in[0][i], ...),
// one pass over the data; f(const A (&in)[NIn]) -> A.
template <typename T, int NIn, typename F>
void sum(int64_t n, const Operands<T, 0, NIn>& p, const F& f, double scale, at::Tensor& out) {
  auto stream = c10::cuda::getCurrentCUDAStream();
  const bool vec = vector_aligned(p);
  const int blocks = grid_for(vec ? (n + kVec<T> - 1) / kVec<T> : n);
  auto partial = at::empty({blocks}, out.options().dtype(at::kDouble));
  double* part = partial.data_ptr<double>();
  if (vec) {
    sum_kernel<T, kVec<T>><<<blocks, kThreads, 0, stream>>>(n, p, f, part);
  } else {
    sum_kernel<T, 1><<<blocks, kThreads, 0, stream>>>(n, p, f, part);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  finish_sum_kernel<T><<<1, kThreads, 0, stream>>>(part, blocks, scale, out.data_ptr<T>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace fastkp::cuda
