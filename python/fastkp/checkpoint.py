"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict::

    {"format": "fastkp-checkpoint", "version": 1,
     "config": {...},            # RunConfig fields: task, arch, size, vocab, mean/std, ...
     "model": state_dict, "optimizer": ..., "scheduler": ..., "scaler": ...,
     "epoch": int,               # epochs completed
     "rng": {...}, "best": float, "history": [...]}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .atomic import atomic_writer

FORMAT = "fastkp-checkpoint"
VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointError(Exception):
    """A checkpoint that is missing, corrupt, foreign or of another run."""


@dataclass
class RunConfig:
    """What a trained model needs to be rebuilt and used: saved in every checkpoint."""

    task: str  # biwi | landmarks | pascal
    arch: str
    size: tuple[int, int]  # network input (height, width)
    n_keypoints: int | None = None
    vocab: list[str] | None = None
    flip_index: list[int] | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    y_range: tuple[float, float] | None = None  # keypoints: (-1, 1)
    threshold: float | None = None  # classification decision threshold
    fastkp_version: str = __version__
    torch_version: str = field(default_factory=lambda: str(torch.__version__))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        known = {f for f in cls.__dataclass_fields__}
        d = {k: v for k, v in d.items() if k in known}
        for k in ("size", "mean", "std", "y_range"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


def save_checkpoint(path: str | Path, config: RunConfig, **state: Any) -> None:
    """Write a checkpoint atomically (temporary file, fsync, rename)."""
    with atomic_writer(path) as f:
        torch.save({"format": FORMAT, "version": VERSION, "config": config.to_dict(), **state}, f)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint; ``ckpt["config"]`` becomes a RunConfig."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip errors, unpickling errors, truncated files
        reason = (str(e).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path}: not a readable fastkp checkpoint ({type(e).__name__}: {reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a fastkp checkpoint (no '{FORMAT}' marker)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')} is not supported (expected {VERSION})")
    try:
        ckpt["config"] = RunConfig.from_dict(ckpt["config"])
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: checkpoint config is damaged ({e})") from None
    return ckpt


def build_model_from_config(config: RunConfig) -> torch.nn.Module:
    from .model import FastkpModel

    if config.n_keypoints is not None:
        return FastkpModel(config.arch, n_keypoints=config.n_keypoints)
    return FastkpModel(config.arch, n_classes=len(config.vocab or []))


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, RunConfig]:
    """The trained model (eval mode) and its config from a checkpoint."""
    ckpt = load_checkpoint(path, map_location)
    model = build_model_from_config(ckpt["config"])
    try:
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: model weights do not match the saved config ({e})") from None
    return model.eval(), ckpt["config"]
