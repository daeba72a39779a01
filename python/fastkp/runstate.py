"""What a run carries from epoch to epoch and across a resume: RNG states, history,
the best monitored value, and the checks that a checkpoint continues this run."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed as dist
from .config import Config
from .errors import CheckpointError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_rng() -> dict[str, Any]:
    """Python, numpy, torch and CUDA generator states, as tensors and lists (weights_only-safe)."""
    st = np.random.get_state()
    py = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [st[0], torch.from_numpy(st[1].astype(np.int64)), st[2], st[3], st[4]],
        "python": list(py[1]) + [py[0], py[2]],
    }


def set_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    n = rng["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    p = rng["python"]
    random.setstate((p[-2], tuple(p[:-2]), p[-1]))


@dataclass
class RunState:
    """Epochs completed (across phases), one metrics dict per epoch, the best monitored
    value so far, and the training loss of every batch (for the loss plot)."""

    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best: float | None = None
    batch_losses: list[float] = field(default_factory=list)

    def improved(self, metrics: dict[str, Any], monitor: str, direction: str) -> bool:
        """Whether ``metrics`` beats the best so far on ``monitor`` (and record it)."""
        value = metrics.get(monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None or (value < self.best if direction == "min" else value > self.best):
            self.best = value
            return True
        return False

    def saved(self) -> dict[str, Any]:
        """What a checkpoint holds of the run, with every rank's RNG states (a collective
        call under DDP: every rank calls it)."""
        return {"epoch": self.epoch, "history": self.history, "best": self.best,
                "rng": dist.gather_objects(get_rng())}

    def restore(self, ckpt: dict[str, Any], rank: int) -> None:
        """The run's state; each rank takes back its own RNG states (rank 0's when the
        checkpoint was written by fewer processes)."""
        self.epoch, self.history, self.best = ckpt["epoch"], list(ckpt["history"]), ckpt["best"]
        rngs = ckpt["rng"] if isinstance(ckpt["rng"], list) else [ckpt["rng"]]
        set_rng(rngs[rank] if rank < len(rngs) else rngs[0])


def check_resumable(ckpt: dict[str, Any], path: Path, config: Config, plan: list[dict]) -> None:
    """CheckpointError unless ``ckpt`` is an earlier state of the run ``config`` + ``plan``
    describes; the message names every setting that differs."""
    saved: Config | None = ckpt.get("config")
    if saved is None:
        raise CheckpointError(f"{path} holds no run settings (not written by training); cannot resume from it")
    if saved.task != config.task:
        raise CheckpointError(f"{path} is a {saved.task!r} run, not {config.task!r}")
    diff = sorted(config.differences(saved))
    if diff:
        mine, theirs = config.to_dict(), saved.to_dict()
        shown = "; ".join(f"{k}: {_get(theirs, k)!r} there, {_get(mine, k)!r} now" for k in diff)
        raise CheckpointError(f"{path} was made with other settings ({shown}); resume with the same settings")
    if ckpt.get("plan") != plan:
        raise CheckpointError(f"{path} was made with another schedule (epochs, learning rates or freeze "
                              "epochs differ); resume with the same settings")


def _get(d: dict[str, Any], key: str) -> Any:
    return d["aug"][key[4:]] if key.startswith("aug.") else d.get(key)
