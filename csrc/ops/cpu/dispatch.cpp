// Picks the widest instruction set this CPU runs.
#include <cstdlib>
#include <string>

#include <c10/util/Exception.h>

#include "kernels.h"

namespace fastkp::cpu {
namespace DEFAULT { const Kernels& table(); }
#ifdef FASTKP_HAVE_AVX
namespace AVX2 { const Kernels& table(); }
namespace AVX512 { const Kernels& table(); }
#endif

namespace {

const Kernels& select() {
  std::string cap;
  if (const char* env = std::getenv("ATEN_CPU_CAPABILITY")) cap = env;
  TORCH_CHECK(cap.empty() || cap == "default" || cap == "avx2" || cap == "avx512",
              "fastkp: ATEN_CPU_CAPABILITY must be default, avx2 or avx512, got '", cap, "'");
#ifdef FASTKP_HAVE_AVX
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512 && (cap.empty() || cap == "avx512")) return AVX512::table();
  if (avx2 && cap != "default") return AVX2::table();
#endif
  return DEFAULT::table();
}

}  // namespace

const Kernels& kernels() {
  static const Kernels& k = select();
  return k;
}

}  // namespace fastkp::cpu
