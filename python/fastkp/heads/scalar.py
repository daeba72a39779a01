"""Scalar heads: one number in a known range (an age in years), through the fused
``SigmoidRange(lo, hi)``; loss L1 by default (MAE, as the "Modern CV with PyTorch"
age model), MSE or smooth L1 on request, computed in units of the range (the book
divides ages by 80) so that it weighs like a classifier's loss in a sum; metrics in
the value's own units. Target: column ``index`` of ``Sample.values``. The JSON line
holds ``"<head name>": value``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from ..nn import SigmoidRange
from .base import Head, add_title, f32


class Squeeze(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(1)


class Unchanged(nn.Module):
    """Exported output: already in the value's units."""

    def forward(self, out: torch.Tensor, origin: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        return out


class ScalarHead(Head):
    kind = "scalar"
    losses = ("l1", "mse", "smooth_l1")
    directions = {"mae": "min", "rmse": "min"}
    monitor = "mae"
    batch_keys = ("values",)

    def __init__(self, name: str, *, y_range: Sequence[float], index: int = 0, unit: str = "",
                 loss: str | None = None, weight: float = 1.0, head_type: str = "fastai"):
        super().__init__(name, loss=loss, weight=weight, head_type=head_type)
        lo, hi = (float(v) for v in y_range)
        if not lo < hi:
            raise UsageError(f"scalar head {name!r}: y_range must be (lo, hi) with lo < hi, got {y_range!r}")
        self.y_range, self.index, self.unit = (lo, hi), int(index), unit

    @property
    def n_out(self) -> int:
        return 1

    def output_layer(self):
        return nn.Sequential(SigmoidRange(*self.y_range), Squeeze())

    def _target(self, batch) -> torch.Tensor:
        return batch["values"][:, self.index].float()

    def loss(self, out, batch):
        loss = {"mse": F.mse_loss, "l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss}[self.loss_name]
        span = self.y_range[1] - self.y_range[0]
        return loss(out.float() / span, self._target(batch) / span)

    def batch_stats(self, out, batch, size):
        err = (out.float() - self._target(batch)).double()
        return {"abs": err.abs().sum(), "sq": err.square().sum(),
                "n": torch.full((), len(out), dtype=torch.float64, device=out.device)}

    def metrics(self, stats):
        n = max(float(stats["n"]), 1.0)
        return {"mae": float(stats["abs"]) / n, "rmse": (float(stats["sq"]) / n) ** 0.5}

    def baseline(self, train, valid, size, box_crop=None):
        """Predicting the training mean."""
        err = np.mean([s.values[self.index] for s in train]) - np.array([s.values[self.index] for s in valid])
        return self.metrics({"abs": np.abs(err).sum(), "sq": np.square(err).sum(), "n": float(len(valid))})

    def predict(self, out, batch, size):
        return out.float().cpu().numpy()

    def deploy_layer(self):
        return Unchanged()

    def record(self, answer):
        return {self.name: f32(np.asarray(answer).reshape(-1)[0])}

    def export_entry(self):
        return {**super().export_entry(), "y_range": list(self.y_range), "unit": self.unit}

    def state(self):
        return {**super().state(), "index": self.index}

    @classmethod
    def from_state(cls, state):
        return cls(state["name"], y_range=state["y_range"], index=state.get("index", 0), unit=state.get("unit", ""),
                   loss=state.get("loss"), weight=state.get("weight", 1.0),
                   head_type=state.get("head_type", "fastai"))

    def draw(self, ax, batch, i, hw, out=None):
        text = f"{self.name} {float(self._target(batch)[i]):.3g}" if "values" in batch else self.name
        add_title(ax, text + (f" → {float(out[i]):.3g}" if out is not None else ""))

    def draw_answer(self, ax, answer):
        add_title(ax, f"{self.name} {float(np.asarray(answer).reshape(-1)[0]):.3g}")
