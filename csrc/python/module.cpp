// fastkp._C: importing it loads the operator library (which registers
// torch.ops.fastkp.*) and reports how that library was built.
#include <pybind11/pybind11.h>

#include "../ops/build_info.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastkp compiled core: loads the fastkp operator library";
  m.def("has_cuda_kernels", &fastkp::cuda_kernels_built, "Whether CUDA kernels were compiled in.");
  m.def("cuda_archs", &fastkp::cuda_archs, "GPU architectures the CUDA kernels target.");
  m.def("cpu_capability", &fastkp::cpu_capability, "CPU instruction set of the kernels in use.");
  m.def("library_path", &fastkp::library_path, "Path of the loaded operator library.");
}
