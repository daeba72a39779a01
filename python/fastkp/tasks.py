"""The three tasks: how to read their data, their heads, their book defaults and their demo.

Book defaults (``--data`` given) follow the fastai book: Biwi at (240, 320)
with resnet18 and ``fine_tune(3, 1e-2)``; PASCAL with resnet50,
``fine_tune(3, base_lr=3e-3, freeze_epochs=4)`` and a 0.2 threshold.

Demo (no ``--data``): a synthetic set in the real format, generated once into
a cache folder, trained at a small input size with a randomly initialised
body, sized so that ``python -m fastkp.train --amp`` finishes in about three
minutes on a 2-core CPU.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import data
from .data import synth
from .heads import Head, KeypointHead, MultiLabelHead


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
    name: str
    book: Hyper
    demo: Hyper
    read: Callable[[Path], dict[str, Any]]  # -> {"train", "valid", "vocab"?, "flip_index"?, "names"?}
    heads: Callable[[dict[str, Any], str | None], list[Head]]  # (what read returned, loss name) -> heads
    make_demo: Callable[[Path, bool], None]  # (root, progress bar?)
    recipe: dict[str, Any] = field(default_factory=dict)  # settings of this task over the demo/book ones


def _read_biwi(root: Path) -> dict[str, Any]:
    train, valid = data.load_biwi(root)
    return {"train": train, "valid": valid}


def _read_pascal(root: Path) -> dict[str, Any]:
    train, valid, vocab = data.load_pascal(root)
    return {"train": train, "valid": valid, "vocab": list(vocab)}


def _read_landmarks(root: Path) -> dict[str, Any]:
    train, valid, flip_index = data.load_landmarks(root)
    return {"train": train, "valid": valid, "flip_index": [int(i) for i in flip_index],
            "names": data.landmark_names(root)}


def _points(d: dict[str, Any], loss: str | None) -> list[Head]:
    k = int(d["train"][0].keypoints.shape[0])
    return [KeypointHead("keypoints", n_keypoints=k, flip_index=d.get("flip_index"), names=d.get("names"),
                         loss=loss)]


def _labels(threshold: float) -> Callable[[dict[str, Any], str | None], list[Head]]:
    return lambda d, loss: [MultiLabelHead("labels", vocab=d["vocab"], threshold=threshold, loss=loss)]


TASKS: dict[str, Task] = {
    "biwi": Task(
        "biwi",
        book=Hyper("resnet18", (240, 320), 64, 3, 1, 1e-2),
        demo=Hyper("resnet18", (96, 128), 32, 8, 1, 1e-2),
        read=_read_biwi,
        heads=_points,
        make_demo=lambda root, progress: synth.make_biwi(root, persons=9, frames_per_person=150, seed=0,
                                                         progress=progress),
    ),
    "pascal": Task(
        "pascal",
        book=Hyper("resnet50", (224, 224), 64, 3, 4, 3e-3),
        demo=Hyper("resnet18", (96, 96), 32, 6, 1, 1e-2),
        read=_read_pascal,
        heads=_labels(threshold=0.2),
        make_demo=lambda root, progress: synth.make_pascal(root, n_images=800, seed=0, progress=progress),
    ),
    "landmarks": Task(
        "landmarks",
        book=Hyper("resnet18", (192, 192), 64, 3, 1, 1e-2),
        demo=Hyper("resnet18", (96, 96), 32, 6, 1, 1e-2),
        read=_read_landmarks,
        heads=_points,
        make_demo=lambda root, progress: synth.make_landmarks(root, n_images=800, k=5, seed=0, progress=progress),
    ),
}


def demo_root(task: Task) -> Path:
    """Where the demo set is cached: $FASTKP_CACHE or ~/.cache/fastkp, one folder per task."""
    base = Path(os.environ.get("FASTKP_CACHE", Path.home() / ".cache" / "fastkp"))
    return base / f"demo-{task.name}-v2"


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
