# find_package(fastkp) for C++ programs that link fastkp::infer.
#
# Installed in <site-packages>/fastkp/share/cmake/fastkp; point CMake at it with
#   -DCMAKE_PREFIX_PATH="$(python -c 'import fastkp.export; print(fastkp.export.cmake_prefix_path())')"
# Torch comes from the same site-packages (the torch fastkp was built against).
include(CMakeFindDependencyMacro)

get_filename_component(_fastkp_site "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)
list(APPEND CMAKE_PREFIX_PATH "${_fastkp_site}/torch/share/cmake")
# A CUDA build of torch needs the CUDA toolkit (its config enables the CUDA
# language) and, from the pip wheel, its nvrtc: the same hints as fastkp's build.
if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
if(CMAKE_CUDA_COMPILER AND NOT DEFINED CUDA_TOOLKIT_ROOT_DIR)
  get_filename_component(_fastkp_cuda_bin "${CMAKE_CUDA_COMPILER}" DIRECTORY)
  get_filename_component(CUDA_TOOLKIT_ROOT_DIR "${_fastkp_cuda_bin}" DIRECTORY)
endif()
find_library(CUDA_nvrtc_LIBRARY NAMES nvrtc libnvrtc.so.13 libnvrtc.so.12
             HINTS "${_fastkp_site}/nvidia/cu13/lib" "${_fastkp_site}/nvidia/cuda_nvrtc/lib")
find_dependency(Torch)
# libjpeg and libpng are private to the shared libfastkp_infer.so (fastkpTargets.cmake
# names neither): programs linking fastkp::infer need no find_dependency for them.

include("${CMAKE_CURRENT_LIST_DIR}/fastkpTargets.cmake")
