"""Modules around the fused operators; both script with ``torch.jit.script``."""

from __future__ import annotations

import torch
from torch import nn

from . import ops


class SigmoidRange(nn.Module):
    """``sigmoid(x) * (hi - lo) + lo``: squashes regression outputs into (lo, hi)."""

    def __init__(self, lo: float, hi: float):
        super().__init__()
        self.lo = float(lo)
        self.hi = float(hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.fastkp.sigmoid_range(x, self.lo, self.hi)

    def extra_repr(self) -> str:
        return f"lo={self.lo}, hi={self.hi}"


class BCEWithLogitsLoss(nn.Module):
    """Drop-in for ``torch.nn.BCEWithLogitsLoss`` running the fused operator."""

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        reduction: str = "mean",
        pos_weight: torch.Tensor | None = None,
    ):
        super().__init__()
        self.reduction = reduction
        self.reduction_code = ops.reduction_code(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.weight: torch.Tensor | None
        self.pos_weight: torch.Tensor | None

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.ops.fastkp.bce_with_logits(input, target, self.weight, self.pos_weight, self.reduction_code)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
