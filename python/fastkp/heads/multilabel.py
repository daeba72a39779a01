"""Multi-label heads: one logit per vocabulary entry, the fused BCE-with-logits loss.

A label is predicted when its probability is above ``threshold``. Validation
also sweeps thresholds 0.05..0.95; when an epoch is the best so far, the
threshold with the best ``accuracy_multi`` is kept (saved and exported), unless
it leaves more than half of the validation images without any label: then the
task's default stays (PASCAL: 0.2) and the log says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from ..metrics.labels import classification_metrics
from ..nn import BCEWithLogitsLoss
from .base import Head, add_title, f32

MAX_UNLABELLED = 0.5  # a kept threshold leaves at most this share of images without a label


class Probabilities(nn.Module):
    """Exported output: logits -> probabilities."""

    def forward(self, out: torch.Tensor, origin: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)


def label_text(vec: np.ndarray, vocab: Sequence[str], threshold: float = 0.5) -> str:
    return "; ".join(vocab[i] for i in np.flatnonzero(vec > threshold)) or "(none)"


class MultiLabelHead(Head):
    kind = "multilabel"
    losses = ("bce_with_logits",)
    directions = {"accuracy_multi": "max", "mAP": "max", "best_accuracy_multi": "max"}
    monitor = "mAP"
    batch_keys = ("labels",)

    def __init__(self, name: str = "labels", *, vocab: Sequence[str], threshold: float = 0.5,
                 default_threshold: float | None = None, loss: str | None = None, weight: float = 1.0, head_type: str = "fastai"):
        super().__init__(name, loss=loss, weight=weight, head_type=head_type)
        if not vocab or not all(isinstance(v, str) for v in vocab):
            raise UsageError(f"vocab must be a non-empty list of strings, got {vocab!r}")
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"threshold must be in [0, 1], got {threshold!r}")
        self.vocab = list(vocab)
        self.threshold = float(threshold)
        self.default_threshold = float(threshold if default_threshold is None else default_threshold)
        self._bce = BCEWithLogitsLoss()

    @property
    def n_out(self) -> int:
        return len(self.vocab)

    def loss(self, out, batch):
        return self._bce(out, batch["labels"])  # the fused op computes in float32 under autocast

    def batch_stats(self, out, batch, size):
        return {"probs": torch.sigmoid(out.float()), "targets": batch["labels"]}

    def metrics(self, stats):
        return classification_metrics(stats["probs"], stats["targets"], self.threshold)

    def columns(self) -> list[str]:
        return ["accuracy_multi", "mAP", "threshold"]

    def on_best(self, metrics):
        best, empty = float(metrics["best_threshold"]), metrics["best_threshold_unlabelled"]
        if empty <= MAX_UNLABELLED:
            self.threshold = best
            return None
        self.threshold = self.default_threshold
        return (f"{self.name}: the threshold sweep's best, {best:.2f}, leaves {empty:.0%} of the validation "
                f"images without a label; keeping {self.default_threshold:.2f}")

    def epoch_info(self):
        return {"threshold": self.threshold}

    def baseline(self, train, valid, size, box_crop=None):
        """Predicting each class's training frequency for every image."""
        freq = np.mean([s.labels for s in train], axis=0)
        labels = np.stack([s.labels for s in valid])
        return classification_metrics(np.broadcast_to(freq, labels.shape), labels, self.threshold)

    def predict(self, out, batch, size):
        return torch.sigmoid(out.float()).cpu().numpy()

    def deploy_layer(self) -> nn.Module:
        return Probabilities()

    def record(self, answer):
        return {"labels": [c for c, p in zip(self.vocab, answer) if p > self.threshold],
                "probabilities": {c: f32(p) for c, p in zip(self.vocab, answer)}}

    def export_entry(self):
        return {**super().export_entry(), "vocab": self.vocab, "threshold": self.threshold}

    def state(self):
        return {**super().state(), "default_threshold": self.default_threshold}

    @classmethod
    def from_state(cls, state):
        return cls(state["name"], vocab=state["vocab"], threshold=state["threshold"],
                   default_threshold=state.get("default_threshold"), loss=state.get("loss"),
                   weight=state.get("weight", 1.0),
                   head_type=state.get("head_type", "fastai"))

    def draw(self, ax, batch, i, hw, out=None):
        lines = [label_text(batch["labels"][i].cpu().numpy(), self.vocab)] if "labels" in batch else []
        if out is not None:
            lines.append("→ " + label_text(torch.sigmoid(out[i].float()).cpu().numpy(), self.vocab, self.threshold))
        add_title(ax, "\n".join(lines))

    def draw_answer(self, ax, answer):
        chosen = [f"{c} {p:.2f}" for c, p in zip(self.vocab, answer) if p > self.threshold]
        add_title(ax, ", ".join(chosen) or "(no label)")
