"""The tasks: how to read their data, their heads, their book defaults and their demo.

Book defaults (``--data`` given) follow the fastai book: Biwi at (240, 320)
with resnet18 and ``fine_tune(3, 1e-2)``; PASCAL with resnet50,
``fine_tune(3, base_lr=3e-3, freeze_epochs=4)`` and a 0.2 threshold; the
DIGITS regression, the "Modern CV with PyTorch" age and gender model and
single-label classes at fastai's defaults (``fine_tune(3, 2e-3)``).

Demo (no ``--data``): a synthetic set in the real format, generated once into
a cache folder, trained at a small input size with a randomly initialised
body, sized so that ``python -m fastkp.train --amp`` finishes in about three
minutes on a 2-core CPU.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import data
from .data import Dataset, ReadOptions, synth
from .data import formats as registry
from .data.agegender import AGE_RANGE, GENDERS
from .errors import UsageError
from .heads import BinaryHead, ClassHead, Head, KeypointHead, MultiLabelHead, ScalarHead, ValuesHead
from .heads.values import standardisation
from .metrics.evaluator import KeypointEvaluator


@dataclass(frozen=True)
class Hyper:
    arch: str
    size: tuple[int, int]
    bs: int
    epochs: int
    freeze_epochs: int
    lr: float


@dataclass(frozen=True)
class Task:
    """A task reads the formats of its ``target`` family (``fastkp.data.formats``), the
    first registered being its default, and builds its heads from what was read."""

    name: str
    target: str  # the family of data formats it reads
    book: Hyper
    demo: Hyper
    heads: Callable[[Dataset, Any], list[Head]]  # (what read returned, the Config) -> heads
    make_demo: Callable[[Path, bool], None]  # (root, progress bar?)
    recipe: dict[str, Any] = field(default_factory=dict)  # settings of this task over the demo/book ones
    note: str = ""  # said in the run's first line
    head_types: tuple[str, ...] = ("fastai", "linear")  # --head choices; the first is the default

    @property
    def formats(self) -> tuple[str, ...]:
        """The data layouts it reads; the first is the default."""
        return registry.formats_of(self.target)

    @property
    def box_formats(self) -> tuple[str, ...]:
        """The formats whose boxes are cropped unless told otherwise."""
        return tuple(name for name in self.formats if registry.get(self.target, name).crop_boxes)

    def format(self, name: str | None) -> str:
        """``name`` (None: the default) if the task reads it; UsageError naming the formats it reads."""
        if name is None:
            return self.formats[0]
        if name not in self.formats:
            raise UsageError(f"task {self.name} reads the formats {', '.join(self.formats)}, not {name!r}",
                             setting="format")
        return name

    def read(self, root: str | Path, fmt: str | None = None, options: ReadOptions = ReadOptions()) -> Dataset:
        """The dataset at ``root`` in the format ``fmt`` (None: the default)."""
        return registry.get(self.target, self.format(fmt)).read(root, options)


SPATIAL = ("heatmap", "fastai", "linear")  # keypoint tasks: the heatmap head by default (docs/accuracy.md)


def _points(d: Dataset, cfg) -> list[Head]:
    """The keypoint head of ``d``'s points (``--flip-json`` is applied to ``d`` before:
    ``fastkp.data.flips.with_flip_file``), scored as ``fastkp.evaluate`` scores ``d``."""
    m, k = d.meta, int(d.train[0].keypoints.shape[0])
    scorer = KeypointEvaluator.for_data(m, k, boxes=m.boxes is not None)
    return [KeypointHead("keypoints", n_keypoints=k, flip_index=None if m.flip_index is None else list(m.flip_index),
                         names=None if m.point_names is None else list(m.point_names), loss=cfg.loss,
                         boxes=scorer.boxes, oks=scorer.oks, head_type=cfg.head)]


def _values(d: Dataset, cfg) -> list[Head]:
    mean, std = standardisation(d.train)
    return [ValuesHead("values", names=list(d.meta.value_names), mean=mean, std=std, loss=cfg.loss,
                       head_type=cfg.head)]


def _age_gender(d: Dataset, cfg) -> list[Head]:
    return [ScalarHead("age", y_range=AGE_RANGE, unit="years", loss=cfg.loss, head_type=cfg.head),
            BinaryHead("gender", labels=GENDERS, head_type=cfg.head)]


def _classes(d: Dataset, cfg) -> list[Head]:
    return [ClassHead("label", vocab=list(d.meta.vocab), label_smoothing=cfg.label_smoothing, loss=cfg.loss,
                      head_type=cfg.head)]


def _labels(threshold: float) -> Callable[[Dataset, Any], list[Head]]:
    return lambda d, cfg: [MultiLabelHead("labels", vocab=list(d.meta.vocab), threshold=threshold, loss=cfg.loss,
                                        head_type=cfg.head)]


KEYPOINTS = Task(
    "keypoints",
    "keypoints",
    book=Hyper("resnet18", (192, 192), 64, 3, 1, 1e-2),
    demo=Hyper("resnet18", (96, 96), 32, 6, 1, 1e-2),
    heads=_points,
    make_demo=lambda root, progress: synth.make_landmarks(root, n_images=800, k=5, seed=0, progress=progress),
    head_types=SPATIAL,
)

TASKS: dict[str, Task] = {
    "biwi": Task(
        "biwi",
        "biwi",
        book=Hyper("resnet18", (240, 320), 64, 3, 1, 1e-2),
        demo=Hyper("resnet18", (96, 128), 32, 8, 1, 1e-2),
        heads=_points,
        make_demo=lambda root, progress: synth.make_biwi(root, persons=9, frames_per_person=150, seed=0,
                                                         progress=progress),
        head_types=SPATIAL,
    ),
    "pascal": Task(
        "pascal",
        "pascal",
        book=Hyper("resnet50", (224, 224), 64, 3, 4, 3e-3),
        demo=Hyper("resnet18", (96, 96), 32, 6, 1, 1e-2),
        heads=_labels(threshold=0.2),
        make_demo=lambda root, progress: synth.make_pascal(root, n_images=800, seed=0, progress=progress),
    ),
    "keypoints": KEYPOINTS,
    "landmarks": replace(KEYPOINTS, name="landmarks"),  # the name before other formats came
    "regression": Task(
        "regression",
        "values",
        book=Hyper("resnet18", (224, 224), 64, 3, 1, 2e-3),
        demo=Hyper("resnet18", (64, 64), 32, 6, 1, 1e-2),
        heads=_values,
        make_demo=lambda root, progress: synth.make_regression(root, n_images=800, seed=0, progress=progress),
        recipe={"aug": "none"},
        note="augmentation off by default (flips, rotations and lighting change what the values mean; "
             "--aug turns it on)",
    ),
    "agegender": Task(
        "agegender",
        "agegender",
        book=Hyper("resnet18", (224, 224), 64, 3, 1, 2e-3),
        demo=Hyper("resnet18", (64, 64), 32, 8, 1, 1e-2),
        heads=_age_gender,
        make_demo=lambda root, progress: synth.make_agegender(root, n_images=800, seed=0, progress=progress),
        recipe={"monitor": "valid_loss"},  # both heads' weighted loss sum picks best.pth
    ),
    "classify": Task(
        "classify",
        "classes",
        book=Hyper("resnet18", (224, 224), 64, 3, 1, 2e-3),
        demo=Hyper("resnet18", (64, 64), 32, 6, 1, 1e-2),
        heads=_classes,
        make_demo=lambda root, progress: synth.make_classify(root, n_images=800, seed=0, progress=progress),
    ),
}


def weighted(heads: list[Head], weights: dict[str, float] | None) -> list[Head]:
    """``heads`` with the loss weights given by head name (the others keep 1)."""
    unknown = sorted(set(weights or {}) - {h.name for h in heads})
    if unknown:
        raise UsageError(f"no head named {', '.join(unknown)}; the heads are {', '.join(h.name for h in heads)}",
                         setting="loss_weights")
    for head in heads:
        head.weight = float((weights or {}).get(head.name, head.weight))
    return heads


def demo_root(task: Task) -> Path:
    """Where the demo set is cached: $FASTKP_CACHE or ~/.cache/fastkp, one folder per task."""
    return data.cache_dir() / f"demo-{task.name}-v2"


def ensure_demo(task: Task, progress: bool = False) -> Path:
    """Generate the task's demo set once; a half-written set is never reused."""
    root = demo_root(task)
    done = root / ".complete"
    if not done.exists():
        tmp = root.with_name(root.name + f".tmp{os.getpid()}")
        task.make_demo(tmp, progress)
        (tmp / ".complete").touch()
        try:
            tmp.rename(root)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    return root
