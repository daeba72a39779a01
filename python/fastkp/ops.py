"""Fused operators: ``torch.ops.fastkp.sigmoid_range`` and ``torch.ops.fastkp.bce_with_logits``.

Importing this module loads the compiled operator library (through
``fastkp._C``) and registers, for every operator, the fake (meta) kernel that
``torch.compile`` and ``torch.export`` trace with. Schemas, CPU/CUDA kernels,
autograd (each backward is one fused kernel too) and the autocast rule
(compute and return float32 under autocast) live in C++, so TorchScript files
that call the operators also run, and train, from C++ once the library is
loaded there (see :func:`library_path`).
"""

from __future__ import annotations

import torch

from . import _C

__all__ = [
    "bce_with_logits",
    "cpu_capability",
    "has_cuda_kernels",
    "library_path",
    "sigmoid_range",
]

_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def has_cuda_kernels() -> bool:
    """Whether this build of fastkp compiled its CUDA kernels."""
    return bool(_C.has_cuda_kernels())


def cpu_capability() -> str:
    """The instruction set of the CPU kernels in use: DEFAULT, AVX2 or AVX512."""
    return _C.cpu_capability()


def library_path() -> str:
    """Path of the operator library, for ``torch.ops.load_library`` in another process."""
    return _C.library_path()


def sigmoid_range(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``sigmoid(x) * (hi - lo) + lo`` in one pass (forward and backward)."""
    return torch.ops.fastkp.sigmoid_range(x, float(lo), float(hi))


def reduction_code(reduction: str) -> int:
    """The schema's ``int reduction`` for 'none', 'mean' or 'sum'."""
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}") from None


def bce_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Same value and gradients as ``F.binary_cross_entropy_with_logits``, fused."""
    return torch.ops.fastkp.bce_with_logits(input, target, weight, pos_weight, reduction_code(reduction))


# ---- fake kernels -------------------------------------------------------------------


@torch.library.register_fake("fastkp::sigmoid_range")
def _sigmoid_range_fake(x, lo, hi):
    return torch.empty_like(x)


@torch.library.register_fake("fastkp::sigmoid_range_backward")
def _sigmoid_range_backward_fake(grad, x, lo, hi):
    return torch.empty_like(x)


@torch.library.register_fake("fastkp::bce_with_logits")
def _bce_fake(input, target, weight, pos_weight, reduction):
    torch._check(target.shape == input.shape, lambda: "fastkp.bce_with_logits: target must have input's shape")
    if reduction == 0:
        return torch.empty_like(input)
    return input.new_empty(())


@torch.library.register_fake("fastkp::bce_with_logits_backward")
def _bce_backward_fake(grad, input, target, weight, pos_weight, reduction, target_grad):
    grad_target = torch.empty_like(target) if target_grad else input.new_empty((0,))
    return torch.empty_like(input), grad_target
