#!/usr/bin/env bash
# Compiles the operator library's sources against another torch's headers
# (e.g. an unpacked wheel of the torch on the GPU machine) without building:
#   tools/check_torch_headers.sh SITE/torch/include
# C++ files are syntax-checked, each CPU kernel file with the flags of every
# instruction set it is built for (and the Python module when Python.h is
# found); the CUDA files are compiled by nvcc (sm_90) when nvcc is found. Exit status: 0 all compiled, 1 some did not, 2 bad usage.
set -uo pipefail
if [[ $# -ne 1 || ! -f "$1/torch/library.h" ]]; then
  echo "usage: $0 TORCH_INCLUDE_DIR  (the folder holding torch/library.h)" >&2
  exit 2
fi
inc=$1
root=$(cd "$(dirname "$0")/.." && pwd)
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cuda_inc=$(dirname "$nvcc")/../include
flags=(-fsyntax-only -std=c++20 -isystem "$inc" -isystem "$inc/torch/csrc/api/include" -isystem "$cuda_inc" -I "$root/csrc"
       -DFASTKP_WITH_CUDA=1 '-DFASTKP_CUDA_ARCHS="9.0"' -DFASTKP_HAVE_AVX)
declare -A caps=([DEFAULT]="" [AVX2]="-mavx2 -mfma -mf16c" [AVX512]="-mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c")
status=0
check_with() {  # compiler, label, arguments...
  local cc=$1 label=$2; shift 2
  if "$cc" "$@" 2>"/tmp/check_torch_headers.$$"; then echo "ok      $label"
  else echo "FAILED  $label"; head -20 "/tmp/check_torch_headers.$$"; status=1; fi
}
check() { local label=$1; shift; check_with g++ "$label" "${flags[@]}" "$@"; }
for cap in "${!caps[@]}"; do
  # shellcheck disable=SC2086  # the flags are separate words
  check "csrc/ops/cpu/kernels.cpp ($cap)" -DCPU_CAPABILITY=$cap -DCPU_CAPABILITY_$cap ${caps[$cap]} "$root/csrc/ops/cpu/kernels.cpp"
done
for src in "$root"/csrc/ops/*.cpp "$root"/csrc/ops/cpu/{dispatch,sigmoid_range,bce_with_logits,soft_argmax}.cpp "$root"/csrc/ops/autograd/*.cpp; do
  check "${src#"$root"/}" "$src"
done
# The Python module, with the pybind11 that ships with that torch.
py_inc=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null || true)
if [[ -f "$py_inc/Python.h" ]]; then
  check "csrc/python/module.cpp" -isystem "$py_inc" "$root/csrc/python/module.cpp"
fi
if command -v "$nvcc" >/dev/null; then
  for src in "$root"/csrc/ops/cuda/*.cu; do
    check_with "$nvcc" "${src#"$root"/}" -std=c++20 -x cu -c -o /dev/null -gencode arch=compute_90,code=sm_90 \
      --expt-relaxed-constexpr -isystem "$inc" -isystem "$inc/torch/csrc/api/include" -I "$root/csrc" "$src"
  done
fi
rm -f "/tmp/check_torch_headers.$$"
exit $status
