"""One resolved configuration per run.

Settings come from three layers, later ones winning: the task's demo settings
(no data given) or the book's (data given); the task's recipe; explicit
arguments (command-line flags or ``Learner`` keywords). Augmentation starts
from a preset (``fastai``: fastai's ``aug_transforms`` defaults; ``light``: flip
only; ``none``: resize only) and individual fields override it.

The weights decide the schedule (``schedule="auto"``): a pretrained body gets
fastai's ``fine_tune``; a random one gets one-cycle over all layers
(``one_cycle``: ``epochs`` is the total, default the recipe's epochs plus its
frozen ones, one rate, default 3e-3, and the ``light`` preset unless the task
or the caller names one; a non-zero ``freeze_epochs`` is refused). ``pretrained="auto"`` means "if the weights are in the
library's cache"; the Config records what that came to (True or False).

The result, a frozen :class:`Config`, is written to ``OUT/config.json`` at the
start of every run and stored in ``last.pth``; resuming compares every key
except ``threads``, ``max_pixels``, ``device``, ``progress`` and ``min_steps`` (which
acts through ``epochs``).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_writer
from .data.pixels import check_max_pixels, pixel_limit
from . import backbones
from .errors import UsageError
from .pipeline import AugConfig
from .pipeline.boxes import BoxCrop
from .sizing import MIN_STEPS
from .tasks import TASKS

VERSION = 1
NOT_COMPARED = ("threads", "max_pixels", "device", "progress", "min_steps")  # min_steps acts through epochs
BOX_SETTINGS = ("box_margin", "box_mode", "aug.box_scale", "aug.box_shift")  # with box_crop only
DEVICES = ("auto", "cpu", "cuda")
AUG_PRESETS = {
    "fastai": AugConfig(),
    "light": AugConfig(max_rotate=0.0, min_zoom=1.0, max_zoom=1.0, max_warp=0.0, max_lighting=0.0, box_scale=0.1,
                       box_shift=0.05),
    "none": AugConfig(do_flip=False, max_rotate=0.0, min_zoom=1.0, max_zoom=1.0, max_warp=0.0, max_lighting=0.0,
                      box_scale=0.0, box_shift=0.0),
}
AUG_FIELDS = ("do_flip", "max_rotate", "min_zoom", "max_zoom", "max_warp", "max_lighting", "min_scale", "pad_mode",
              "box_scale", "box_shift")
SCHEDULES = ("auto", "fine_tune", "one_cycle")
PRETRAINED = ("auto", "yes", "no")
ONE_CYCLE_LR = 3e-3
F32_MAX = 3.4028234663852886e38  # the largest finite float32
# settings added after version 1 was first written: missing from older files, they take these values
ADDED = {"format": None, "loss_weights": None, "label_smoothing": 0.0, "on_error": "raise", "pretrained": False,
         "schedule": "fine_tune", "box_crop": False, "box_margin": 0.25, "box_mode": "pad", "flip_json": None,
         "max_pixels": None, "head": "fastai", "min_steps": None}
# settings no task's demo or book fixes
GENERIC = {"format": None, "loss": None, "loss_weights": None, "label_smoothing": 0.0, "monitor": None, "amp": False, "channels_last": True, "compile": False, "seed": 0,
           "weights": None, "pretrained": "auto", "schedule": "auto", "on_error": "raise", "aug": "fastai",
           "threads": None, "max_pixels": None, "device": "auto", "progress": True, "box_crop": None,
           "box_margin": 0.25, "box_mode": "pad", "flip_json": None, "head": None}


@dataclass(frozen=True)
class Config:
    """Every setting of a run (see the module docstring)."""

    task: str
    data: str | None  # None: the task's synthetic demo set
    format: str | None  # the data layout; None: the task's default
    arch: str
    size: tuple[int, int]  # network input (height, width)
    bs: int
    epochs: int
    freeze_epochs: int
    lr: float
    min_steps: int | None  # a random body's default length: epochs until this many steps (fastkp.sizing)
    head: str  # the network each head ends with: fastai, linear or heatmap (fastkp.heads.networks)
    loss: str | None  # None: the head's default (resolved once the heads exist)
    loss_weights: dict[str, float] | None  # head name -> weight of its loss in the sum (default 1)
    label_smoothing: float  # class heads' cross-entropy
    monitor: str | None  # None: the first head's metric (idem)
    amp: bool
    channels_last: bool
    compile: bool
    seed: int
    weights: str | None
    pretrained: bool  # the body starts from ImageNet weights (or ``weights``)
    schedule: str  # "fine_tune" or "one_cycle"
    on_error: str  # a bad image file: "raise", or "skip" (dropped before the epoch plan, counted)
    box_crop: bool  # crop each sample's box (fastkp.pipeline.boxes) rather than take the whole image
    box_margin: float
    box_mode: str  # "pad" or "squash"
    flip_json: str | None  # a file with the keypoints' flip permutation, over the reader's
    aug: AugConfig
    threads: int | None  # CPU threads for torch, DALI and the image checks (None only in old files: all cores)
    max_pixels: int | None  # refuse images of more pixels (fastkp.data.pixels; None only in old files: the default)
    device: str
    progress: bool

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"version": VERSION, **d, "size": list(self.size), "aug": asdict(self.aug)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        if d.get("version") != VERSION:
            raise UsageError(f"configuration version {d.get('version')!r} is not supported (expected {VERSION})")
        known = {f.name for f in fields(cls)}
        values = {**ADDED, **{k: v for k, v in d.items() if k in known}}
        return cls(**{**values, "size": tuple(values["size"]), "aug": AugConfig(**values["aug"])})

    def write(self, path: str | Path) -> None:
        """``config.json``, atomically."""
        with atomic_writer(path) as f:
            f.write((json.dumps(self.to_dict(), indent=1) + "\n").encode("utf-8"))

    def differences(self, other: Config) -> list[str]:
        """The keys (``aug.*`` for augmentation fields) whose values differ, except those
        that may change between a run and its resumption, and the box settings of runs that
        crop no boxes (a run written before they existed has the defaults there)."""
        a, b = _flat(self.to_dict()), _flat(other.to_dict())
        unused = () if self.box_crop or other.box_crop else BOX_SETTINGS
        return [k for k in a.keys() | b.keys() if k not in NOT_COMPARED + unused and a.get(k) != b.get(k)]


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    aug = d.pop("aug")
    return {**d, **{f"aug.{k}": v for k, v in aug.items()}}


def _path(value: Any) -> str | None:
    return None if value is None else str(Path(value).expanduser().resolve())


def _aug(base: str | AugConfig, overrides: dict[str, Any]) -> AugConfig:
    if isinstance(base, str):
        if base not in AUG_PRESETS:
            raise UsageError(f"unknown augmentation preset {base!r}; choose one of {', '.join(AUG_PRESETS)}")
        base = AUG_PRESETS[base]
    elif not isinstance(base, AugConfig):
        raise UsageError(f"aug must be a preset name or an AugConfig, got {type(base).__name__}")
    return replace(base, **overrides)  # AugConfig's UsageError names the setting


def parse_size(value: Any) -> tuple[int, ...]:
    """(height, width) from 96 (square, as fastai's Resize(96)), "96", "96x128", (96, 128) or
    ["96", "128"]; UsageError naming the setting otherwise."""
    parts = [value] if isinstance(value, (int, str)) else list(value)
    if len(parts) == 1 and isinstance(parts[0], str) and "x" in parts[0].lower():
        parts = parts[0].lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise UsageError(f"size must be H, HxW or H W in pixels, got {value!r}", setting="size") from None
    return size * 2 if len(size) == 1 else size


def float32_value(text: str) -> float:
    """argparse type of the float options: a number that stays finite as float32 (the
    type the models, losses and optimisers hold it in), so ``--lr 1e308`` is a usage
    error naming the option instead of an overflow later."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not fits_float32(value):
        raise argparse.ArgumentTypeError(f"{text!r} does not fit a float32 (finite, at most {F32_MAX:.2e} in size)")
    return value


def fits_float32(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) <= F32_MAX


def _check(name: str, ok: bool, want: str, value: Any) -> None:
    if not ok:
        raise UsageError(f"{name} must be {want}, got {value!r}", setting=name)


def for_model(task: str, arch: str, size: tuple[int, int]) -> Config:
    """Settings to run a model that no training run describes (a checkpoint made elsewhere)."""
    s = {**{k: v for k, v in GENERIC.items() if k != "aug"}, "pretrained": False, "schedule": "fine_tune",
         "box_crop": False, "head": "fastai", "min_steps": None}
    return Config(task=task, data=None, arch=arch, size=tuple(size), bs=32, epochs=0, freeze_epochs=0, lr=1e-3,
                  aug=AugConfig(), **s)


def resolve_device(device: str) -> torch.device:
    """``auto`` (CUDA when there is a GPU), ``cpu`` or ``cuda``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda was asked for but no CUDA device is available", setting="device")
    return torch.device(device)


def _pretrained(value: Any, arch: str, weights: Any) -> bool:
    """What ``pretrained`` (auto, yes, no, or a bool) comes to for ``arch``."""
    value = {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value
    _check("pretrained", value in PRETRAINED, f"one of {', '.join(PRETRAINED)}", value)
    if weights is not None:
        if value != "auto":
            raise UsageError(f"pretrained {value} conflicts with weights, which gives the body's weights",
                             setting="pretrained")
        return True
    w = backbones.default_weights(arch) if value != "no" else None
    if value == "yes" and w is None:
        raise UsageError(f"pretrained: {arch} has no ImageNet weights in its library; use no", setting="pretrained")
    return w is not None and (value == "yes" or w.cache_file is not None)


def resolve(task: str = "biwi", data: str | Path | None = None, **given: Any) -> Config:
    """The Config of ``task`` on ``data`` (None: the demo set); ``given`` holds explicit
    settings (Config field names, plus AugConfig field names), None meaning "not given"."""
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    t = TASKS[task]
    unknown = set(given) - {f.name for f in fields(Config)} - set(AUG_FIELDS)
    if unknown:
        raise UsageError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    given = {k: v for k, v in given.items() if v is not None}
    hyper = asdict(t.demo if data is None else t.book)
    s = {**GENERIC, **hyper, **t.recipe, **{k: v for k, v in given.items() if k not in AUG_FIELDS}}
    backbones.check_arch(s["arch"])
    s["pretrained"] = _pretrained(s["pretrained"], s["arch"], s["weights"])
    _check("schedule", s["schedule"] in SCHEDULES, f"one of {', '.join(SCHEDULES)}", s["schedule"])
    if s["schedule"] == "auto":
        s["schedule"] = "fine_tune" if s["pretrained"] else "one_cycle"
    if s["schedule"] == "one_cycle":
        if given.get("freeze_epochs", 0) != 0:
            raise UsageError("freeze_epochs applies to fine_tune only: one_cycle trains every layer for all the epochs",
                             setting="freeze_epochs")
        s["epochs"] = given.get("epochs", hyper["epochs"] + hyper["freeze_epochs"])
        s["min_steps"] = None if "epochs" in given else MIN_STEPS
        s["freeze_epochs"], s["lr"] = 0, given.get("lr", ONE_CYCLE_LR)
        s["aug"] = given.get("aug", t.recipe.get("aug", "light"))
    aug = _aug(s.pop("aug"), {k: v for k, v in given.items() if k in AUG_FIELDS})
    size = parse_size(s["size"])
    _check("size", len(size) == 2 and all(isinstance(v, int) and v >= 32 for v in size),
           "two values of at least 32 pixels", size)
    for name, low in (("bs", 1), ("epochs", 0), ("freeze_epochs", 0), ("seed", 0)):
        _check(name, isinstance(s[name], int) and s[name] >= low, f"an int >= {low}", s[name])
    _check("seed", s["seed"] < 2**63, "below 2**63", s["seed"])
    _check("lr", fits_float32(s["lr"]) and s["lr"] > 0, "a positive number, finite as float32", s["lr"])
    weights = s["loss_weights"]
    _check("loss_weights", weights is None or (isinstance(weights, dict) and all(
        fits_float32(v) and v >= 0 for v in weights.values()) and any(v > 0 for v in weights.values())
        and all(weights)),
        "a mapping of head names to non-negative weights, one of them positive", weights)
    _check("format", data is not None or s["format"] is None, "given only with data (the demo set has its own)",
           s["format"])
    _check("label_smoothing", isinstance(s["label_smoothing"], (int, float)) and 0 <= s["label_smoothing"] < 1,
           "in [0, 1)", s["label_smoothing"])
    _check("on_error", s["on_error"] in ("raise", "skip"), "raise or skip", s["on_error"])
    s["head"] = s["head"] or t.head_types[0]
    _check("head", s["head"] in t.head_types, f"one of {', '.join(t.head_types)} for task {task}", s["head"])
    fmt = t.format(s["format"]) if data is not None else t.formats[0]
    if s["box_crop"] is None:
        s["box_crop"] = fmt in t.box_formats
    _check("box_crop", isinstance(s["box_crop"], bool), "a bool", s["box_crop"])
    BoxCrop(s["box_margin"], s["box_mode"])  # its UsageError names the setting
    _check("device", s["device"] in DEVICES, f"one of {', '.join(DEVICES)}", s["device"])
    _check("threads", s["threads"] is None or (isinstance(s["threads"], int) and s["threads"] >= 1),
           "a positive int", s["threads"])
    s["threads"] = s["threads"] or torch.get_num_threads()
    s["max_pixels"] = pixel_limit(None if s["max_pixels"] is None else check_max_pixels(s["max_pixels"]))
    s.setdefault("min_steps", None)
    return Config(task=task, data=_path(data), **{**s, "size": size, "lr": float(s["lr"]),
                                                 "weights": _path(s["weights"]), "aug": aug,
                                                 "flip_json": _path(s["flip_json"])})


def recipe(cfg: Config) -> str:
    """The run's first line: which schedule runs and why (the weights the body starts from)."""
    preset = next((name for name, a in AUG_PRESETS.items() if a == cfg.aug), "custom")
    default = (cfg.schedule == "fine_tune") == cfg.pretrained
    why = " (the default for a pretrained body)" if cfg.pretrained else " (the default for a random body)"
    if cfg.schedule == "fine_tune":
        plan = (f"fine_tune: {cfg.freeze_epochs} frozen epoch(s), then {cfg.epochs} with discriminative rates "
                f"up to {cfg.lr / 2:g}")
    else:
        sized = "" if cfg.min_steps is None else f" or more (at least {cfg.min_steps} steps, sized to the data)"
        plan = f"one_cycle: {cfg.epochs} epochs{sized}, every layer at up to {cfg.lr:g}"
    if cfg.weights is not None:
        start = f"the body starts from {cfg.weights}"
    elif cfg.pretrained:
        w = backbones.default_weights(cfg.arch)
        start = f"the body starts from ImageNet weights ({w.cache_file or w.where})"
    else:
        start = backbones.random_notice(cfg.arch)
    return f"fastkp: recipe {plan}, {preset} augmentation{why if default else ''}; {start}"
