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
from .data import synth
from .data._keypoints import decode, read_bounded
from .data.dlc import parse_flip_file
from .errors import UsageError
from .data.utkface import AGE_RANGE, GENDERS
from .heads import BinaryHead, ClassHead, Head, KeypointHead, MultiLabelHead, ScalarHead, ValuesHead
from .heads.values import standardisation
from .kp_metrics import COCO_SIGMAS

MAX_FLIP_FILE = 1 << 20


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
    read: Callable[[Path, str, str], dict[str, Any]]  # (root, format, on_error) -> {"train", "valid", ...}
    heads: Callable[[dict[str, Any], Any], list[Head]]  # (what read returned, the Config) -> heads
    make_demo: Callable[[Path, bool], None]  # (root, progress bar?)
    recipe: dict[str, Any] = field(default_factory=dict)  # settings of this task over the demo/book ones
    formats: tuple[str, ...] = ("default",)  # the data layouts it reads; the first is the default
    note: str = ""  # said in the run's first line
    box_formats: tuple[str, ...] = ()  # the formats whose boxes are cropped unless told otherwise

    def format(self, name: str | None) -> str:
        if name is None:
            return self.formats[0]
        if name not in self.formats:
            raise UsageError(f"task {self.name} reads the formats {', '.join(self.formats)}, not {name!r}",
                             setting="format")
        return name


def _read_biwi(root: Path, fmt: str, on_error: str) -> dict[str, Any]:
    train, valid = data.load_biwi(root, on_error=on_error)
    return {"train": train, "valid": valid}


def _read_pascal(root: Path, fmt: str, on_error: str) -> dict[str, Any]:
    train, valid, vocab = data.load_pascal(root, on_error=on_error)
    return {"train": train, "valid": valid, "vocab": list(vocab)}


def _read_landmarks(root: Path, fmt: str, on_error: str) -> dict[str, Any]:
    train, valid, flip_index = data.load_landmarks(root, on_error=on_error)
    return {"train": train, "valid": valid, "flip_index": [int(i) for i in flip_index],
            "names": data.landmark_names(root)}


def _read_keypoints(root: Path, fmt: str, on_error: str) -> dict[str, Any]:
    if fmt == "csv":
        return _read_landmarks(root, fmt, on_error)
    readers = {"300w": data.load_300w, "coco": data.load_coco, "dlc": data.load_dlc, "yolo": data.load_yolo_pose}
    return {**readers[fmt](root, on_error=on_error), "format": fmt}


def _flip_override(d: dict[str, Any], path: str) -> list[int]:
    """``--flip-json FILE``: ``{"flip_index": [...], "names": [...]}`` over the reader's permutation."""
    names = d.get("names") or [str(i) for i in range(int(d["train"][0].keypoints.shape[0]))]
    text = decode(read_bounded(Path(path), "flip file", limit=MAX_FLIP_FILE), path)
    return [int(i) for i in parse_flip_file(text, path, list(names))]


def _points(d: dict[str, Any], cfg) -> list[Head]:
    k = int(d["train"][0].keypoints.shape[0])
    flip = d.get("flip_index") if cfg.flip_json is None else _flip_override(d, cfg.flip_json)
    boxes = all(s.box is not None for s in (*d["train"], *d["valid"]))
    return [KeypointHead("keypoints", n_keypoints=k, flip_index=None if flip is None else [int(i) for i in flip],
                         names=d.get("names"), loss=cfg.loss, boxes=boxes,
                         oks=boxes and d.get("format") == "coco" and k == len(COCO_SIGMAS))]


def _read_values(root: Path, fmt: str, on_error: str) -> dict[str, Any]:
    train, valid, names = data.load_values(root, on_error=on_error)
    return {"train": train, "valid": valid, "names": names}


def _values(d: dict[str, Any], cfg) -> list[Head]:
    mean, std = standardisation(d["train"])
    return [ValuesHead("values", names=d["names"], mean=mean, std=std, loss=cfg.loss)]


def _read_agegender(root: Path, fmt: str, on_error: str) -> dict[str, Any]:
    train, valid = data.load_agegender(root, format=fmt, on_error=on_error)
    return {"train": train, "valid": valid}


def _age_gender(d: dict[str, Any], cfg) -> list[Head]:
    return [ScalarHead("age", y_range=AGE_RANGE, unit="years", loss=cfg.loss),
            BinaryHead("gender", labels=GENDERS)]


def _read_classes(root: Path, fmt: str, on_error: str) -> dict[str, Any]:
    train, valid, vocab = data.load_classes(root, format=fmt, on_error=on_error)
    return {"train": train, "valid": valid, "vocab": vocab}


def _classes(d: dict[str, Any], cfg) -> list[Head]:
    return [ClassHead("label", vocab=d["vocab"], label_smoothing=cfg.label_smoothing, loss=cfg.loss)]


def _labels(threshold: float) -> Callable[[dict[str, Any], Any], list[Head]]:
    return lambda d, cfg: [MultiLabelHead("labels", vocab=d["vocab"], threshold=threshold, loss=cfg.loss)]


KEYPOINTS = Task(
    "keypoints",
    book=Hyper("resnet18", (192, 192), 64, 3, 1, 1e-2),
    demo=Hyper("resnet18", (96, 96), 32, 6, 1, 1e-2),
    read=_read_keypoints,
    heads=_points,
    make_demo=lambda root, progress: synth.make_landmarks(root, n_images=800, k=5, seed=0, progress=progress),
    formats=("csv", "300w", "coco", "dlc", "yolo"),
    box_formats=("300w", "coco", "yolo"),
)

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
    "keypoints": KEYPOINTS,
    "landmarks": replace(KEYPOINTS, name="landmarks"),  # the name before other formats came
    "regression": Task(
        "regression",
        book=Hyper("resnet18", (224, 224), 64, 3, 1, 2e-3),
        demo=Hyper("resnet18", (64, 64), 32, 6, 1, 1e-2),
        read=_read_values,
        heads=_values,
        make_demo=lambda root, progress: synth.make_regression(root, n_images=800, seed=0, progress=progress),
        recipe={"aug": "none"},
        note="augmentation off by default (flips, rotations and lighting change what the values mean; "
             "--aug turns it on)",
    ),
    "agegender": Task(
        "agegender",
        book=Hyper("resnet18", (224, 224), 64, 3, 1, 2e-3),
        demo=Hyper("resnet18", (64, 64), 32, 8, 1, 1e-2),
        read=_read_agegender,
        heads=_age_gender,
        make_demo=lambda root, progress: synth.make_agegender(root, n_images=800, seed=0, progress=progress),
        recipe={"monitor": "valid_loss"},  # both heads' weighted loss sum picks best.pth
        formats=data.utkface.FORMATS,
    ),
    "classify": Task(
        "classify",
        book=Hyper("resnet18", (224, 224), 64, 3, 1, 2e-3),
        demo=Hyper("resnet18", (64, 64), 32, 6, 1, 1e-2),
        read=_read_classes,
        heads=_classes,
        make_demo=lambda root, progress: synth.make_classify(root, n_images=800, seed=0, progress=progress),
        formats=data.classes.FORMATS,
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
