"""The base of every head: what depends on the kind of target lives in its subclass.

A model is a body plus a list of heads. Each head owns its output layer, its
loss (computed in float32), its validation statistics and metrics, the
constant-predictor baseline, decoding outputs for prediction, its entry in
``fastkp.json``, its post-processing inside an exported model, and drawing.
The learner, the loops and the exporter only ever call these methods.

Validation statistics: :meth:`Head.batch_stats` returns tensors per batch; a
0-d tensor is a sum (added over batches and ranks), any other is a per-image
array (concatenated over batches and gathered from all ranks).

The methods come in three groups: training (the network's end, loss, validation,
baseline), deployment (decoding, the flip test, export, state) and drawing. A subclass
must implement the abstract ones; the others have defaults that suit most kinds.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..data import Sample
from ..errors import UsageError
from ..pipeline.boxes import BoxCrop
from .networks import fastai_head, linear_head

NAME = re.compile(r"[A-Za-z0-9_]+")


class Head(abc.ABC):
    """One kind of target. Subclasses set the class attributes and implement the abstract
    methods."""

    kind: ClassVar[str]
    losses: ClassVar[tuple[str, ...]]  # the loss names it accepts; the first is the default
    directions: ClassVar[dict[str, str]]  # metric -> "min" | "max": what its metrics mean
    monitor: ClassVar[str]  # the metric that picks the best epoch by default
    batch_keys: ClassVar[tuple[str, ...]]  # the loader batch entries it reads (fastkp.pipeline.plan)
    head_types: ClassVar[tuple[str, ...]] = ("fastai", "linear")  # the networks it can end with (networks.py)

    def __init__(self, name: str, *, loss: str | None = None, weight: float = 1.0, head_type: str = "fastai"):
        if not NAME.fullmatch(name or ""):
            raise UsageError(f"head name {name!r} must be letters, digits or '_'")
        if loss is not None and loss not in self.losses:
            raise UsageError(f"the {self.kind} head {name!r} " + (
                f"takes loss {' / '.join(self.losses)}, not {loss!r}" if len(self.losses) > 1
                else f"has one loss ({self.losses[0]}); no loss can be chosen (got {loss!r})"), setting="loss")
        if head_type not in self.head_types:
            raise UsageError(f"the {self.kind} head {name!r} ends with a network of {' / '.join(self.head_types)}, "
                             f"not {head_type!r}", setting="head")
        self.name = name
        self.loss_name = loss or self.losses[0]
        self.weight = float(weight)
        self.head_type = head_type

    # ---- training: the network's end ---------------------------------------------------
    @property
    @abc.abstractmethod
    def n_out(self) -> int:
        """Outputs of the last linear layer."""

    def output_layer(self) -> nn.Module:
        """What follows the last linear layer (an activation, a reshape)."""
        return nn.Identity()

    def network(self, n_features: int, size: tuple[int, int],
                feature_hw: tuple[int, int] | None = None) -> nn.Module:
        """This head's layers on the body's feature map (``n_features`` channels, ``feature_hw``
        cells for a network input of ``size``; measured only for heads that need it): its
        ``head_type``'s network, then :meth:`output_layer`."""
        build = fastai_head if self.head_type == "fastai" else linear_head
        return nn.Sequential(*build(n_features, self.n_out), self.output_layer())

    def loader_args(self) -> dict[str, Any]:
        """Extra ``build_loader`` arguments this head's targets need (a flip permutation)."""
        return {}

    # ---- training: loss, validation, baseline -----------------------------------------
    @abc.abstractmethod
    def loss(self, out: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """This head's loss on a batch, in float32."""

    @abc.abstractmethod
    def batch_stats(self, out: torch.Tensor, batch: dict[str, torch.Tensor],
                    size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """One batch's validation statistics (see the module docstring), on the device."""

    @abc.abstractmethod
    def metrics(self, stats: dict[str, Any]) -> dict[str, float]:
        """The final metrics from statistics reduced over the whole validation set."""

    def columns(self) -> list[str]:
        """The metrics shown in the table (all of them go to metrics.jsonl)."""
        return list(self.directions)

    def on_best(self, metrics: dict[str, float]) -> str | None:
        """Called with this head's metrics when an epoch became the best one (a classifier
        keeps its threshold); returns a note for the log, if any."""
        return None

    def epoch_info(self) -> dict[str, Any]:
        """State to show in the epoch table and metrics.jsonl (a classifier's threshold)."""
        return {}

    def legend(self, size: tuple[int, int]) -> str | None:
        """A line explaining this head's columns, printed above the table."""
        return None

    @abc.abstractmethod
    def baseline(self, train: Sequence[Sample], valid: Sequence[Sample], size: tuple[int, int],
                 box_crop: BoxCrop | None = None) -> dict[str, float]:
        """The metrics of the best constant prediction learnt from ``train`` (in the frame the
        network sees: each box's window with ``box_crop``)."""

    # ---- deployment: decoding, the flip test, export, state -----------------------------
    @abc.abstractmethod
    def predict(self, out: torch.Tensor, batch: dict[str, torch.Tensor],
                size: tuple[int, int]) -> np.ndarray:
        """Per-image answers as an exported model gives them (e.g. points in the source
        image's pixels, probabilities), from network outputs of a loader batch."""

    @property
    def supports_flip(self) -> bool:
        """Whether :meth:`flip_average` can run (the flip test)."""
        return False

    def check_flip(self) -> None:
        """UsageError(setting="tta") unless this head supports the flip test."""
        if not self.supports_flip:
            raise UsageError(f"tta flip needs keypoint heads with a flip permutation; head {self.name!r} "
                             f"({self.kind}) has none", setting="tta")

    def flip_average(self, out: torch.Tensor, mirrored: torch.Tensor, centre: float = 0.0) -> torch.Tensor:
        """The flip test: ``out`` averaged with ``mirrored``, the output for the mirrored
        images brought back (x -> ``centre`` - x: 0 for network outputs, the image width
        for an exported model's answers in pixels)."""
        self.check_flip()
        raise NotImplementedError(f"{type(self).__name__} supports the flip test: it must override flip_average")

    @abc.abstractmethod
    def deploy_layer(self) -> nn.Module:
        """Scriptable ``forward(out, origin, frame)``: network output -> exported output, for
        a network input that shows the window at ``origin`` (B, 2) (x, y) of size ``frame``
        (B, 2) (w, h) of each input image, in its pixels."""

    @abc.abstractmethod
    def record(self, answer: np.ndarray) -> dict[str, Any]:
        """The JSON line fields of one image's exported answer (same as fastkp-infer's)."""

    def blank_below(self, answer: np.ndarray, min_score: float) -> np.ndarray:
        """``answer`` with its parts scored below ``min_score`` blanked (NaN, printed as null);
        heads without scores return it unchanged."""
        return answer

    @property
    def scores(self) -> bool:
        """Whether this head's answers carry scores that ``--min-score`` filters."""
        return False

    def export_entry(self) -> dict[str, Any]:
        """This head's entry in ``fastkp.json``'s ``heads`` list."""
        return {"name": self.name, "kind": self.kind, "head_type": self.head_type}

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the head (saved in checkpoints)."""
        return {**self.export_entry(), "loss": self.loss_name, "weight": self.weight}

    @classmethod
    @abc.abstractmethod
    def from_state(cls, state: dict[str, Any]) -> Head:
        """The head from :meth:`state` or from an export entry (training fields defaulted)."""

    # ---- drawing -----------------------------------------------------------------------
    @abc.abstractmethod
    def draw(self, ax, batch: dict[str, torch.Tensor], i: int, hw: tuple[int, int],
             out: torch.Tensor | None = None) -> None:
        """Draw image ``i``'s target (and, given the network output ``out``, the prediction)."""

    @abc.abstractmethod
    def draw_answer(self, ax, answer: np.ndarray) -> None:
        """Draw one image's exported answer over it (axes in the image's pixels)."""


def f32(v: float) -> float | None:
    """The shortest decimal of a float32 value, as fastkp-infer prints it; None (JSON null)
    for NaN and infinities, which JSON cannot hold."""
    v = np.float32(v)
    return float(str(v)) if np.isfinite(v) else None


def add_title(ax, text: str) -> None:
    """Append a line to an axes' title (several heads may describe one image)."""
    old = ax.get_title()
    ax.set_title(f"{old}\n{text}" if old else text, fontsize=8)
