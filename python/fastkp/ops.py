"""Fused operators: ``torch.ops.fastkp.sigmoid_range``, ``torch.ops.fastkp.bce_with_logits``
and ``torch.ops.fastkp.soft_argmax``.

Importing this module loads the compiled operator library (through
``fastkp._C``) and registers, for every operator, the fake (meta) kernel that
``torch.compile`` and ``torch.export`` trace with. Schemas, CPU/CUDA kernels,
autograd (each backward is one fused kernel too) and the autocast rule
(compute and return float32 under autocast) live in C++, so TorchScript files
that call the operators also run, and train, from C++ once the library is
loaded there (see :func:`library_path`).

``soft_argmax(heatmaps, beta) -> (coords, peak)`` decodes (B, K, H, W) heatmap
logits: ``p = softmax(beta * map)`` over each map's H*W cells, ``coords``
(B, K, 2) is the p-weighted mean of the cell centres ``x_j = (2j + 1)/W - 1``,
``y_i = (2i + 1)/H - 1`` (fastkp's [-1, 1] frame) and ``peak`` (B, K) is
``max p``, the point's confidence. ``peak`` is not differentiable (it never
requires grad; only ``coords`` carries a gradient). :func:`soft_argmax_composite`
is the same computation in plain torch operations, which the ONNX export
decomposes the operator into.
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
    "soft_argmax",
    "soft_argmax_composite",
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


def soft_argmax(heatmaps: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(coords, peak)`` of (B, K, H, W) heatmap logits, fused (forward and backward):
    coords (B, K, 2) in [-1, 1], the softmax(beta * map)-weighted mean of the cell
    centres; peak (B, K), the largest probability (not differentiable)."""
    return torch.ops.fastkp.soft_argmax(heatmaps, float(beta))


def soft_argmax_composite(heatmaps: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`soft_argmax` in plain torch operations (softmax, two weighted sums, amax):
    the ONNX decomposition, the benchmarks' eager baseline and the tests' reference.
    Computes in float32 under autocast, as the fused operator does; its peak is detached."""
    if heatmaps.dtype not in (torch.float32, torch.float64):
        heatmaps = heatmaps.float()
    b, k, h, w = heatmaps.shape
    p = torch.softmax(heatmaps.reshape(b, k, h * w) * beta, dim=-1).reshape(b, k, h, w)
    xs = (torch.arange(w, dtype=p.dtype, device=p.device) * 2 + 1) / w - 1
    ys = (torch.arange(h, dtype=p.dtype, device=p.device) * 2 + 1) / h - 1
    x = (p.sum(dim=2) * xs).sum(dim=-1)  # columns' mass times their centres
    y = (p.sum(dim=3) * ys).sum(dim=-1)
    peak = p.detach().reshape(b, k, h * w).amax(dim=-1)
    return torch.stack([x, y], dim=-1), peak


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


@torch.library.register_fake("fastkp::soft_argmax")
def _soft_argmax_fake(heatmaps, beta):
    torch._check(heatmaps.dim() == 4, lambda: "fastkp.soft_argmax: heatmaps must be a 4-D (B, K, H, W) tensor")
    torch._check(heatmaps.dtype in (torch.float32, torch.float64),
                 lambda: "fastkp.soft_argmax: heatmaps must be a float32 or float64 tensor")
    b, k = heatmaps.shape[:2]
    return heatmaps.new_empty((b, k, 2)), heatmaps.new_empty((b, k))


@torch.library.register_fake("fastkp::soft_argmax_backward")
def _soft_argmax_backward_fake(grad_coords, heatmaps, coords, peak, beta):
    # channels-last for channels-last maps (not also contiguous), else contiguous, as the kernels
    if not heatmaps.is_contiguous() and heatmaps.is_contiguous(memory_format=torch.channels_last):
        return torch.empty_like(heatmaps, memory_format=torch.channels_last)
    return heatmaps.new_empty(heatmaps.shape)
