"""Heads: one module per kind of target, found by kind through a registry.

Adding a kind of target = one module here with a :class:`Head` subclass,
``register("kind", Class)``, and a decoder for that kind in the C++ library
(``csrc/infer/heads/``); nothing in the learner, the loops or the exporter.

Several heads can share one body. Their metrics, baselines and JSON fields are
merged into one flat record by :func:`merge`: a key two heads would both give
is prefixed with the head's name (``left_keypoints``), any other key is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from .base import Head
from .binary import BinaryHead
from .classes import ClassHead
from .keypoints import KeypointHead
from .multilabel import MultiLabelHead
from .scalar import ScalarHead
from .values import ValuesHead

_KINDS: dict[str, type[Head]] = {}


def register(kind: str, cls: type[Head]) -> None:
    """Make ``cls`` the head of ``kind`` targets (checkpoints and fastkp.json name kinds)."""
    _KINDS[kind] = cls


def kinds() -> list[str]:
    return sorted(_KINDS)


def loss_names() -> list[str]:
    """Every loss some registered head takes, in registration order."""
    return list(dict.fromkeys(name for cls in _KINDS.values() for name in cls.losses))


def from_state(state: dict[str, Any]) -> Head:
    """A head from its checkpoint state or its fastkp.json entry."""
    kind = state.get("kind")
    if kind not in _KINDS:
        raise UsageError(f"head {state.get('name')!r} has kind {kind!r}; known kinds: {', '.join(kinds())}")
    return _KINDS[kind].from_state(state)


def check_names(heads: Sequence[Head]) -> None:
    names = [h.name for h in heads]
    if not heads or len(set(names)) != len(names):
        raise UsageError(f"a model needs one or more heads with distinct names, got {names}")


def merge(heads: Sequence[Head], parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One flat dict from one dict per head (same order), prefixing clashing keys."""
    seen: dict[str, int] = {}
    for part in parts:
        for k in part:
            seen[k] = seen.get(k, 0) + 1
    return {(f"{h.name}_{k}" if seen[k] > 1 else k): v for h, part in zip(heads, parts) for k, v in part.items()}


def directions(heads: Sequence[Head]) -> dict[str, str]:
    """Every monitorable metric name -> "min" | "max" (losses included)."""
    return {"valid_loss": "min", "train_loss": "min", **merge(heads, [h.directions for h in heads])}


def default_monitor(heads: Sequence[Head]) -> str:
    """The first head's own monitored metric, under its merged name."""
    names = merge(heads, [{k: k for k in h.directions} for h in heads])
    return next(key for key, own in names.items() if own == heads[0].monitor)


def monitored(heads: Sequence[Head], monitor: str | None) -> tuple[str, str]:
    """(metric, "min" | "max"): ``monitor``, or the default when None; UsageError if unknown."""
    known = directions(heads)
    monitor = monitor or default_monitor(heads)
    if monitor not in known:
        raise UsageError(f"cannot monitor {monitor!r}; the metrics are {', '.join(known)}", setting="monitor")
    return monitor, known[monitor]


def check_min_score(min_score: float, heads: Sequence[Head]) -> None:
    """UsageError unless ``min_score`` is in [0, 1] and, when above 0, some head has scores."""
    if not 0.0 <= min_score <= 1.0:
        raise UsageError(f"min_score must be in [0, 1], got {min_score!r}", setting="min_score")
    if min_score > 0 and not any(h.scores for h in heads):
        raise UsageError("min_score: this model's heads give no scores (a keypoint model trained with --head "
                         "heatmap does)", setting="min_score")


for _cls in (KeypointHead, MultiLabelHead, ValuesHead, ScalarHead, BinaryHead, ClassHead):
    register(_cls.kind, _cls)

__all__ = ["BinaryHead", "ClassHead", "Head", "KeypointHead", "MultiLabelHead", "ScalarHead", "ValuesHead",
           "check_min_score", "check_names", "default_monitor", "directions", "from_state",
           "kinds", "loss_names", "merge", "monitored", "register"]
