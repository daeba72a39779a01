// When autograd would record nothing for a call (grad mode off, as in every
// backward pass without create_graph, or no input requiring grad), the
// Autograd kernels call the operator directly instead of through a
// torch::autograd::Function, whose graph node would be built and thrown away.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/GradMode.h>

#include <optional>

namespace fastkp::autograd {

inline bool requires_grad(const at::Tensor& t) { return t.requires_grad(); }
inline bool requires_grad(const std::optional<at::Tensor>& t) {
  return t.has_value() && t->defined() && t->requires_grad();
}

template <typename... Tensors>
bool records(const Tensors&... tensors) {
  return c10::GradMode::is_enabled() && (requires_grad(tensors) || ...);
}

}  // namespace fastkp::autograd
