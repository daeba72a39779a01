// Drives the per-capability inner loops over the operands of a call: directly
// over their storage when they are small and share one dense layout (at
// training sizes TensorIterator's set-up is most of a call), else through a
// TensorIterator, which handles shapes, strides, broadcasting and coalescing.
#pragma once

#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>

#include <array>
#include <vector>

#include "kernels.h"

namespace fastkp::cpu {

// Calls kernel(run) once over the storage and returns true when `like` (the
// operand that sets the shape) is smaller than one parallel grain and
// non-overlapping and dense, every output is laid out like it, and every
// input is too or holds a single value (read as a broadcast, stride 0); else
// returns false.
template <typename Kernel>
bool dense_run(const at::Tensor& like, at::ArrayRef<at::Tensor> outputs, at::ArrayRef<at::Tensor> inputs,
               const Kernel& kernel) {
  const int64_t n = like.numel();
  if (n >= at::internal::GRAIN_SIZE || !like.is_non_overlapping_and_dense() ||
      outputs.size() + inputs.size() > 8) {
    return false;
  }
  std::array<char*, 8> data{};
  std::array<int64_t, 8> strides{};
  int k = 0;
  auto same_layout = [&](const at::Tensor& t) { return t.sizes() == like.sizes() && t.strides() == like.strides(); };
  for (const auto& t : outputs) {
    if (!same_layout(t)) return false;
    strides[k] = t.element_size();
    data[k++] = static_cast<char*>(t.data_ptr());
  }
  for (const auto& t : inputs) {
    for (const auto& o : outputs)  // TensorIterator refuses partial overlap with its message
      if (at::get_overlap_status(o, t) == at::MemOverlapStatus::Partial) return false;
    if (same_layout(t)) {
      strides[k] = t.element_size();
    } else if (t.numel() == 1) {
      strides[k] = 0;
    } else {
      return false;
    }
    data[k++] = static_cast<char*>(t.data_ptr());
  }
  if (n > 0) kernel(Run{data.data(), strides.data(), n});  // the loops read their first element up front
  return true;
}

inline at::TensorIterator iterator(at::ArrayRef<at::Tensor> outputs, at::ArrayRef<at::Tensor> inputs) {
  at::TensorIteratorConfig config;
  for (const auto& t : outputs) config.add_output(t);
  for (const auto& t : inputs) config.add_const_input(t);
  return config.build();
}

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

// Elementwise over outputs (each defined; resized to the broadcast shape if it
// differs) and inputs, `like` setting the shape; ATen's thread pool splits
// large iteration spaces.
template <typename Kernel>
void for_each(const at::Tensor& like, at::ArrayRef<at::Tensor> outputs, at::ArrayRef<at::Tensor> inputs,
              const Kernel& kernel) {
  if (dense_run(like, outputs, inputs, kernel)) return;
  auto iter = iterator(outputs, inputs);
  iter.for_each(block_loop(iter.ntensors(), kernel));
}

// Sum of kernel(run) over the inputs' iteration space. Chunk boundaries do not
// depend on the thread count and partial sums are added in order, so the
// result is the same bit for bit however many threads run (and a small input
// is one chunk either way).
template <typename Kernel>
double sum(const at::Tensor& like, at::ArrayRef<at::Tensor> inputs, const Kernel& kernel) {
  double total = 0;
  if (dense_run(like, {}, inputs, [&](const Run& r) { total = kernel(r); })) return total;
  auto iter = iterator({}, inputs);
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
  for (double p : partial) total += p;
  return total;
}

}  // namespace fastkp::cpu
