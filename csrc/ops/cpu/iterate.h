// Drives the per-capability inner loops over a TensorIterator, which handles
// shapes, strides, broadcasting and dimension coalescing.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>

#include <vector>

#include "kernels.h"

namespace fastkp::cpu {

// Calls kernel(const Run&) on every innermost run of a 2-D block.
template <typename Kernel>
auto block_loop(int ntensors, const Kernel& kernel) {
  return [=](char** data, const int64_t* strides, int64_t size0, int64_t size1) {
    std::vector<char*> ptrs(data, data + ntensors);
    for (int64_t j = 0; j < size1; ++j) {
      if (j > 0) {
        for (int k = 0; k < ntensors; ++k) ptrs[k] += strides[ntensors + k];
      }
      kernel(Run{ptrs.data(), strides, size0});
    }
  };
}

// Elementwise: ATen's thread pool splits the iteration space.
template <typename Kernel>
void for_each(at::TensorIterator& iter, const Kernel& kernel) {
  iter.for_each(block_loop(iter.ntensors(), kernel));
}

// Sum of kernel(run) over the whole iteration space. Chunk boundaries do not
// depend on the thread count and partial sums are added in order, so the
// result is the same bit for bit however many threads run.
template <typename Kernel>
double sum(at::TensorIterator& iter, const Kernel& kernel) {
  constexpr int64_t kChunk = 1 << 15;
  const int64_t n = iter.numel();
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks, 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double acc = 0;
      iter.serial_for_each(block_loop(iter.ntensors(), [&](const Run& r) { acc += kernel(r); }),
                           {c * kChunk, std::min(n, (c + 1) * kChunk)});
      partial[c] = acc;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace fastkp::cpu
