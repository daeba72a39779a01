// What this build of the operator library contains; plain C++, no torch types.
#pragma once

namespace fastkp {

// True when the CUDA kernels were compiled into the library.
bool cuda_kernels_built();
// GPU architectures compiled (e.g. "9.0"), empty without CUDA.
const char* cuda_archs();
// The CPU kernels in use: "DEFAULT", "AVX2" or "AVX512".
const char* cpu_capability();
// Absolute path of the loaded operator library (for torch.ops.load_library
// or a C++ program that must load it beside a TorchScript file).
const char* library_path();

}  // namespace fastkp
