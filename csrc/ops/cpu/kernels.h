// Inner loops of the CPU operators, compiled once per instruction set
// (kernels.cpp is built as DEFAULT, AVX2 and AVX512 objects) and picked at
// run time. They see only raw pointers and byte strides of one strided run,
// exactly as TensorIterator hands them out; no Tensor crosses this boundary.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

namespace fastkp::cpu {

struct Run {
  char** data;             // one pointer per operand, outputs first
  const int64_t* strides;  // byte stride per operand
  int64_t n;               // elements in this run
};

struct BceFlags {
  bool weight = false;      // a weight operand is present
  bool pos_weight = false;  // a pos_weight operand is present
  bool write_loss = false;  // forward: write per-element loss (reduction none)
  bool grad_target = false; // backward: also write d loss / d target
};

// soft_argmax over maps [begin, end) of contiguous (maps, H, W) heatmaps;
// coords is (maps, 2), peak is (maps), all of the kernel's dtype (float or double).
struct SoftArgmaxArgs {
  const void* heatmaps;
  void* coords;
  void* peak;
  int64_t H, W;
  double beta;
};

// Its backward: grad_heatmaps (maps, H, W) from grad_coords (maps, 2), the
// heatmaps and the forward's coords and peak, all contiguous.
struct SoftArgmaxGradArgs {
  void* grad_heatmaps;
  const void* grad_coords;
  const void* heatmaps;
  const void* coords;
  const void* peak;
  int64_t H, W;
  double beta;
};

struct Kernels {
  const char* name;
  // operands: y, x
  void (*sigmoid_range_forward)(c10::ScalarType, const Run&, double lo, double hi);
  // operands: grad_x, grad_y, x
  void (*sigmoid_range_backward)(c10::ScalarType, const Run&, double lo, double hi);
  // operands: [loss], x, target, [weight], [pos_weight];
  // returns the sum of the run's losses when flags.write_loss is false.
  double (*bce_forward)(c10::ScalarType, const Run&, BceFlags);
  // operands: grad_x, [grad_target], grad (broadcast when reduced), x, target,
  // [weight], [pos_weight]; every gradient is multiplied by `scale`.
  void (*bce_backward)(c10::ScalarType, const Run&, BceFlags, double scale);
  // maps [begin, end) of a soft_argmax call (float or double only).
  void (*soft_argmax_forward)(c10::ScalarType, const SoftArgmaxArgs&, int64_t begin, int64_t end);
  void (*soft_argmax_backward)(c10::ScalarType, const SoftArgmaxGradArgs&, int64_t begin, int64_t end);
  // dst[j * ld_dst + i] = src[i * ld_src + j] for i < rows, j < cols (float or double):
  // channels-last heatmaps to maps and back, in SIMD tiles where ATen has them.
  void (*transpose)(c10::ScalarType, const void* src, int64_t ld_src, void* dst, int64_t ld_dst, int64_t rows,
                    int64_t cols);
};

// The kernels for this CPU: AVX512, AVX2 or DEFAULT, honouring
// ATEN_CPU_CAPABILITY=default|avx2|avx512 as PyTorch does.
const Kernels& kernels();

}  // namespace fastkp::cpu
