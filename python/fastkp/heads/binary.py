"""Binary heads: one of two labels (a gender), one logit, the fused BCE-with-logits loss.
Target: column ``index`` of ``Sample.labels`` (1 = the second label). The JSON line
holds ``"<head name>": label`` and ``"probabilities": {"<second label>": p}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from ..nn import BCEWithLogitsLoss
from .base import Head, add_title, f32
from .scalar import Squeeze


class Probability(nn.Module):
    """Exported output: the logit -> the second label's probability, (B,)."""

    def forward(self, out: torch.Tensor, origin: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)


class BinaryHead(Head):
    kind = "binary"
    losses = ("bce_with_logits",)
    directions = {"accuracy": "max"}
    monitor = "accuracy"
    batch_keys = ("labels",)

    def __init__(self, name: str, *, labels: Sequence[str], threshold: float = 0.5, index: int = 0,
                 loss: str | None = None, weight: float = 1.0, head_type: str = "fastai"):
        super().__init__(name, loss=loss, weight=weight, head_type=head_type)
        if len(labels) != 2 or labels[0] == labels[1]:
            raise UsageError(f"binary head {name!r}: labels must be two different names, got {list(labels)}")
        self.labels, self.threshold, self.index = list(labels), float(threshold), int(index)
        self._bce = BCEWithLogitsLoss()

    @property
    def n_out(self) -> int:
        return 1

    def output_layer(self):
        return Squeeze()

    def _target(self, batch) -> torch.Tensor:
        return batch["labels"][:, self.index].float()

    def loss(self, out, batch):
        return self._bce(out, self._target(batch))

    def batch_stats(self, out, batch, size):
        right = ((torch.sigmoid(out.float()) > self.threshold) == (self._target(batch) > 0.5)).double()
        return {"right": right.sum(), "n": torch.full((), len(out), dtype=torch.float64, device=out.device)}

    def metrics(self, stats):
        return {"accuracy": float(stats["right"]) / max(float(stats["n"]), 1.0)}

    def baseline(self, train, valid, size, box_crop=None):
        """Always answering the training set's more frequent label."""
        majority = np.mean([s.labels[self.index] for s in train]) > 0.5
        return {"accuracy": float(np.mean([(s.labels[self.index] > 0.5) == majority for s in valid]))}

    def predict(self, out, batch, size):
        return torch.sigmoid(out.float()).cpu().numpy()

    def deploy_layer(self):
        return Probability()

    def record(self, answer):
        p = float(np.asarray(answer).reshape(-1)[0])
        return {self.name: self.labels[int(p > self.threshold)], "probabilities": {self.labels[1]: f32(p)}}

    def export_entry(self):
        return {**super().export_entry(), "labels": self.labels, "threshold": self.threshold}

    def state(self):
        return {**super().state(), "index": self.index}

    @classmethod
    def from_state(cls, state):
        return cls(state["name"], labels=state["labels"], threshold=state.get("threshold", 0.5),
                   index=state.get("index", 0), loss=state.get("loss"), weight=state.get("weight", 1.0),
                   head_type=state.get("head_type", "fastai"))

    def draw(self, ax, batch, i, hw, out=None):
        text = self.labels[int(self._target(batch)[i] > 0.5)] if "labels" in batch else self.name
        if out is not None:
            text += f" → {self.labels[int(torch.sigmoid(out[i].float()) > self.threshold)]}"
        add_title(ax, text)

    def draw_answer(self, ax, answer):
        add_title(ax, self.record(answer)[self.name])
