#include "build_info.h"

#include <dlfcn.h>

#include "cpu/kernels.h"

namespace fastkp {

bool cuda_kernels_built() { return FASTKP_WITH_CUDA; }

const char* cuda_archs() { return FASTKP_CUDA_ARCHS; }

const char* cpu_capability() { return cpu::kernels().name; }

const char* library_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&library_path), &info) == 0 || info.dli_fname == nullptr) {
    return "";
  }
  return info.dli_fname;
}

}  // namespace fastkp
