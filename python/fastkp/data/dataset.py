"""The one record every reader returns: both splits and what the format says about them.

Readers differ in what their files hold (point names, a flip permutation, boxes,
a vocabulary); ``DatasetMeta`` carries all of it under fixed names, so the tasks
build their heads and the evaluator picks its metrics from the record alone,
without knowing which reader made it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sample import Sample

BOXES = ("annotation", "points")  # DatasetMeta.boxes: the format's own boxes, or the points' box grown


@dataclass(frozen=True)
class DatasetMeta:
    """What a dataset's format tells beyond its samples.

    ``format`` is the registry name (``fastkp.data.formats``); ``split`` the rule that
    chose the validation samples, in words. ``point_names``, ``flip_index`` (point i
    becomes ``flip_index[i]`` under a horizontal flip) and ``sigmas`` (per-point OKS
    sigmas, given only where the format defines them) describe keypoints; ``boxes`` says
    where every sample's box comes from ("annotation" or "points", None: no boxes);
    ``value_names`` name regression outputs; ``vocab`` the classes of a label target.
    """

    format: str
    split: str
    point_names: tuple[str, ...] | None = None
    flip_index: tuple[int, ...] | None = None
    sigmas: tuple[float, ...] | None = None
    boxes: str | None = None
    value_names: tuple[str, ...] | None = None
    vocab: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.boxes is not None and self.boxes not in BOXES:
            raise ValueError(f"boxes must be one of {BOXES} or None, got {self.boxes!r}")


@dataclass
class Dataset:
    """The training and validation samples of one dataset and its ``meta``."""

    train: list[Sample]
    valid: list[Sample]
    meta: DatasetMeta
