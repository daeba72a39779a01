"""Class heads: one of C classes, cross-entropy (optional label smoothing), accuracy and
top-5 accuracy. Target: ``Sample.label``. Exported models return class probabilities;
the JSON line holds ``"label"``, ``"probability"`` and ``"top5": [[label, p], ...]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from .base import Head, add_title, f32

TOP = 5


class Softmax(nn.Module):
    """Exported output: logits -> class probabilities."""

    def forward(self, out: torch.Tensor, origin: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        return torch.softmax(out, dim=1)


class ClassHead(Head):
    kind = "classes"
    losses = ("cross_entropy",)
    directions = {"accuracy": "max", "top5": "max"}
    monitor = "accuracy"
    batch_keys = ("label",)

    def __init__(self, name: str = "label", *, vocab: Sequence[str], label_smoothing: float = 0.0,
                 loss: str | None = None, weight: float = 1.0, head_type: str = "fastai"):
        super().__init__(name, loss=loss, weight=weight, head_type=head_type)
        if len(vocab) < 2 or len(set(vocab)) != len(vocab):
            raise UsageError(f"class head {name!r}: vocab must be two or more distinct classes, got {list(vocab)}")
        if not 0.0 <= label_smoothing < 1.0:
            raise UsageError(f"label_smoothing must be in [0, 1), got {label_smoothing}", setting="label_smoothing")
        self.vocab, self.label_smoothing = list(vocab), float(label_smoothing)

    @property
    def n_out(self) -> int:
        return len(self.vocab)

    def loss(self, out, batch):
        return F.cross_entropy(out.float(), batch["label"], label_smoothing=self.label_smoothing)

    def batch_stats(self, out, batch, size):
        top = out.float().topk(min(TOP, self.n_out), dim=1).indices
        hits = top == batch["label"].unsqueeze(1)
        return {"right": hits[:, 0].double().sum(), "top": hits.any(1).double().sum(),
                "n": torch.full((), len(out), dtype=torch.float64, device=out.device)}

    def metrics(self, stats):
        n = max(float(stats["n"]), 1.0)
        return {"accuracy": float(stats["right"]) / n, "top5": float(stats["top"]) / n}

    def baseline(self, train, valid, size, box_crop=None):
        """Always ranking the classes by their training frequency."""
        order = np.argsort(-np.bincount([s.label for s in train], minlength=self.n_out), kind="stable")
        truth = np.array([s.label for s in valid])
        return {"accuracy": float(np.mean(truth == order[0])), "top5": float(np.mean(np.isin(truth, order[:TOP])))}

    def predict(self, out, batch, size):
        return torch.softmax(out.float(), dim=1).cpu().numpy()

    def deploy_layer(self):
        return Softmax()

    def record(self, answer):
        p = np.asarray(answer).reshape(-1)
        order = np.argsort(-p, kind="stable")[:TOP]
        return {"label": self.vocab[order[0]], "probability": f32(p[order[0]]),
                "top5": [[self.vocab[i], f32(p[i])] for i in order]}

    def export_entry(self):
        return {**super().export_entry(), "vocab": self.vocab}

    def state(self):
        return {**super().state(), "label_smoothing": self.label_smoothing}

    @classmethod
    def from_state(cls, state):
        return cls(state["name"], vocab=state["vocab"], label_smoothing=state.get("label_smoothing", 0.0),
                   loss=state.get("loss"), weight=state.get("weight", 1.0),
                   head_type=state.get("head_type", "fastai"))

    def draw(self, ax, batch, i, hw, out=None):
        text = self.vocab[int(batch["label"][i])] if "label" in batch else ""
        if out is not None:
            text += f" → {self.vocab[int(out[i].argmax())]}"
        add_title(ax, text)

    def draw_answer(self, ax, answer):
        add_title(ax, self.record(answer)["label"])
