"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict::

    {"format": "fastkp-checkpoint", "version": 2,
     "spec": {...},             # ModelSpec: task, arch, input size, mean/std, pretrained, heads
     "config": {...} | None,    # the run's resolved Config (fastkp.config), training only
     "model": state_dict, "optimizer": ..., "scheduler": ..., "scaler": ...,
     "epoch": int,              # epochs completed
     "rng": {...}, "best": float, "history": [...], "plan": [...]}

Version 1 checkpoints (one output described by ``config``) still load: their
description becomes a one-head spec and their weights are renamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import __version__
from . import heads as heads_mod
from .atomic import atomic_writer
from .backbones import IMAGENET_MEAN, IMAGENET_STD
from .errors import CheckpointError, FastkpError, os_reason
from .heads import Head

FORMAT = "fastkp-checkpoint"
VERSION = 2

__all__ = ["CheckpointError", "ModelSpec", "load_checkpoint", "load_model", "save_checkpoint"]


@dataclass
class ModelSpec:
    """What a trained model needs to be rebuilt and used: saved in every checkpoint."""

    task: str
    arch: str
    size: tuple[int, int]  # network input (height, width)
    heads: list[Head]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    pretrained: bool = False  # the body started from ImageNet (or --weights) weights
    box_crop: dict | None = None  # trained on box crops: BoxCrop.to_dict()
    fastkp_version: str = __version__
    torch_version: str = field(default_factory=lambda: str(torch.__version__))

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "heads"}
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        return {**d, "heads": [h.state() for h in self.heads]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        known = {f for f in cls.__dataclass_fields__}
        d = {k: v for k, v in d.items() if k in known}
        for k in ("size", "mean", "std"):
            d[k] = tuple(d[k])
        d["heads"] = [heads_mod.from_state(h) for h in d["heads"]]
        return cls(**d)


def _spec_from_v1(config: dict[str, Any]) -> dict[str, Any]:
    """A version-1 config (one output: n_keypoints or vocab) as a spec dict."""
    if config.get("n_keypoints") is not None:
        head = {"name": "keypoints", "kind": "keypoints", "n_keypoints": config["n_keypoints"],
                "flip_index": config.get("flip_index")}
    else:
        head = {"name": "labels", "kind": "multilabel", "vocab": config["vocab"],
                "threshold": config.get("threshold") or 0.5}
    return {**config, "heads": [head]}


def _upgrade_v1(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: the spec from the config; ``head.*`` weights become ``heads.0.*``."""
    spec = _spec_from_v1(ckpt.pop("config"))
    model = {("heads.0." + k[5:] if k.startswith("head.") else k): v for k, v in ckpt.get("model", {}).items()}
    return {**ckpt, "version": VERSION, "spec": spec, "config": None, "model": model}


def checkpoint_payload(spec: ModelSpec, config: Any = None, **state: Any) -> dict[str, Any]:
    """What a checkpoint file holds; ``config`` is the run's Config (anything with
    ``to_dict``) or None."""
    return {"format": FORMAT, "version": VERSION, "spec": spec.to_dict(),
            "config": config.to_dict() if config is not None else None, **state}


def write_checkpoint(path: str | Path, payload: dict[str, Any], also: Sequence[Path] = ()) -> None:
    """Write ``payload`` atomically (temporary file, fsync, rename), and the same file as
    each of ``also`` before it (see atomic_writer). A failed write (a full disk) leaves the
    previous files intact and raises CheckpointError naming the file."""
    try:
        with atomic_writer(path, also) as f:
            torch.save(payload, f)
    except (OSError, RuntimeError) as e:
        raise CheckpointError(f"{os_reason(e).lower()} writing {path}") from None


def save_checkpoint(path: str | Path, spec: ModelSpec, config: Any = None, **state: Any) -> None:
    """write_checkpoint of checkpoint_payload(spec, config, **state)."""
    write_checkpoint(path, checkpoint_payload(spec, config, **state))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint; ``ckpt["spec"]`` becomes a ModelSpec and
    ``ckpt["config"]`` a Config (None when the checkpoint was not written by training)."""
    from .config import Config

    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip errors, unpickling errors, truncated files
        reason = (str(e).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path}: not a readable fastkp checkpoint ({type(e).__name__}: {reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a fastkp checkpoint (no '{FORMAT}' marker)")
    if ckpt.get("version") not in (1, VERSION):
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')} is not supported "
                              f"(this fastkp reads versions 1 and {VERSION})")
    try:
        if ckpt["version"] == 1:
            ckpt = _upgrade_v1(ckpt)
        ckpt["spec"] = ModelSpec.from_dict(ckpt["spec"])
        if ckpt.get("config") is not None:
            ckpt["config"] = Config.from_dict(ckpt["config"])
    except (KeyError, TypeError, ValueError, FastkpError) as e:
        raise CheckpointError(f"{path}: checkpoint description is damaged ({type(e).__name__}: {e})") from None
    return ckpt


def build_model(spec: ModelSpec) -> torch.nn.Module:
    from .model import FastkpModel

    return FastkpModel(spec.arch, spec.heads, spec.size)


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, ModelSpec]:
    """The trained model (eval mode) and its spec from a checkpoint."""
    ckpt = load_checkpoint(path, map_location)
    model = build_model(ckpt["spec"])
    try:
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: model weights do not match the saved description ({e})") from None
    return model.eval(), ckpt["spec"]
