"""Value heads: a vector of floats (DIGITS-style regression), learnt standardised.

The targets are ``Sample.values`` (columns ``index``, all by default). The head
learns them as ``(y - mean) / std`` with the training set's mean and std (kept in
the checkpoint and ``fastkp.json``), and reports MAE and RMSE per output in the
original units. Exported models answer in original units; the JSON line holds
``"values": {"name": v, ...}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from .base import Head, add_title, f32


class Destandardise(nn.Module):
    """Exported output: standardised values -> original units."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, out: torch.Tensor, origin: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        return out * self.std + self.mean


def standardisation(samples, index: Sequence[int] | None = None) -> tuple[list[float], list[float]]:
    """The training values' mean and std per column (std 1 where a column is constant)."""
    values = np.stack([s.values for s in samples]).astype(np.float64)
    values = values if index is None else values[:, list(index)]
    std = values.std(axis=0)
    return values.mean(axis=0).tolist(), np.where(std > 0, std, 1.0).tolist()


class ValuesHead(Head):
    kind = "values"
    losses = ("mse", "l1", "smooth_l1")
    monitor = "mae"
    batch_keys = ("values",)

    def __init__(self, name: str = "values", *, names: Sequence[str], mean: Sequence[float],
                 std: Sequence[float], index: Sequence[int] | None = None, loss: str | None = None,
                 weight: float = 1.0, head_type: str = "fastai"):
        super().__init__(name, loss=loss, weight=weight, head_type=head_type)
        self._on_device: tuple[torch.Tensor, torch.Tensor] | None = None
        if not names or len(set(names)) != len(names) or not len(names) == len(mean) == len(std):
            raise UsageError(f"values head {name!r}: names, mean and std must be {len(names)} distinct "
                             "names and as many numbers")
        if any(s <= 0 for s in std):
            raise UsageError(f"values head {name!r}: std must be positive, got {list(std)}")
        self.names, self.mean, self.std = list(names), [float(v) for v in mean], [float(v) for v in std]
        self.index = list(range(len(names))) if index is None else [int(i) for i in index]
        self.directions = {"mae": "min", "rmse": "min",
                           **{f"{m}_{n}": "min" for n in self.names for m in ("mae", "rmse")}}

    @property
    def n_out(self) -> int:
        return len(self.names)

    def _targets(self, batch) -> torch.Tensor:
        return batch["values"][:, self.index].float()

    def _mean_std(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """On ``device``, made once (no host-to-device copy per step)."""
        if self._on_device is None or self._on_device[0].device != device:
            self._on_device = (torch.tensor(self.mean, device=device), torch.tensor(self.std, device=device))
        return self._on_device

    def _standardised(self, batch) -> torch.Tensor:
        mean, std = self._mean_std(batch["values"].device)
        return (self._targets(batch) - mean) / std

    def loss(self, out, batch):
        loss = {"mse": F.mse_loss, "l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss}[self.loss_name]
        return loss(out.float(), self._standardised(batch))

    def batch_stats(self, out, batch, size):
        mean, std = self._mean_std(out.device)
        err = (out.float() * std + mean - self._targets(batch)).double()
        stats = {"n": torch.full((), len(out), dtype=torch.float64, device=out.device)}
        for i in range(self.n_out):
            stats[f"abs_{i}"], stats[f"sq_{i}"] = err[:, i].abs().sum(), err[:, i].square().sum()
        return stats

    def metrics(self, stats):
        n = max(float(stats["n"]), 1.0)
        m = {}
        for i, name in enumerate(self.names):
            m[f"mae_{name}"], m[f"rmse_{name}"] = float(stats[f"abs_{i}"]) / n, (float(stats[f"sq_{i}"]) / n) ** 0.5
        m["mae"] = float(np.mean([m[f"mae_{n}"] for n in self.names]))
        m["rmse"] = float(np.sqrt(np.mean([m[f"rmse_{n}"] ** 2 for n in self.names])))
        return m

    def columns(self):
        return ["mae", "rmse"] if self.n_out > 3 else [f"mae_{n}" for n in self.names]

    def baseline(self, train, valid, size, box_crop=None):
        """Predicting the training mean of every output."""
        target = np.stack([s.values for s in valid])[:, self.index]
        err = np.asarray(standardisation(train, self.index)[0]) - target
        stats = {"n": float(len(valid))}
        for i in range(self.n_out):
            stats[f"abs_{i}"], stats[f"sq_{i}"] = np.abs(err[:, i]).sum(), np.square(err[:, i]).sum()
        return self.metrics(stats)

    def predict(self, out, batch, size):
        return (out.float().cpu().numpy() * np.array(self.std) + np.array(self.mean)).astype(np.float32)

    def deploy_layer(self):
        return Destandardise(self.mean, self.std)

    def record(self, answer):
        return {"values": {n: f32(v) for n, v in zip(self.names, np.asarray(answer).reshape(-1))}}

    def export_entry(self):
        return {**super().export_entry(), "names": self.names, "mean": self.mean, "std": self.std}

    def state(self):
        return {**super().state(), "index": self.index}

    @classmethod
    def from_state(cls, state):
        return cls(state["name"], names=state["names"], mean=state["mean"], std=state["std"],
                   index=state.get("index"), loss=state.get("loss"), weight=state.get("weight", 1.0),
                   head_type=state.get("head_type", "fastai"))

    def draw(self, ax, batch, i, hw, out=None):
        parts = []
        for j, name in enumerate(self.names[:3]):
            text = f"{name} {float(self._targets(batch)[i, j]):.3g}" if "values" in batch else name
            if out is not None:
                text += f" → {float(out[i, j]) * self.std[j] + self.mean[j]:.3g}"
            parts.append(text)
        add_title(ax, ", ".join(parts))

    def draw_answer(self, ax, answer):
        add_title(ax, ", ".join(f"{n} {v:.3g}" for n, v in zip(self.names[:3], np.asarray(answer).reshape(-1))))
