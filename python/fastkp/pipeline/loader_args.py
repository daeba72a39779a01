"""The arguments both ``build_loader`` functions take, checked in one place, so that the DALI
loader and the reference loader reject the same values with the same errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..data import Sample
from ..errors import UsageError
from .augment import AugConfig
from .boxes import BoxCrop
from .plan import EpochPlanner


@dataclass(frozen=True)
class LoaderArgs:
    """Checked ``build_loader`` arguments: the epoch plan, and where and how to run it."""

    planner: EpochPlanner
    device: torch.device
    dtype: torch.dtype
    num_threads: int  # >= 0; what a thread is, and whether 0 is allowed, is the loader's
    max_pixels: int | None  # the pixel limit of what the loader decodes itself (None: the default)


def check_device(device: str) -> torch.device:
    """``"cpu"`` or ``"cuda"`` (the current CUDA device); a clear error when there is no GPU."""
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("device='cuda' needs a CUDA GPU and torch sees none; use device='cpu'",
                             setting="device")
        return torch.device("cuda", torch.cuda.current_device())
    raise UsageError(f"device must be 'cpu' or 'cuda', got {device!r}")


def check_dtype(dtype: torch.dtype) -> torch.dtype:
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise UsageError(f"dtype must be a floating torch dtype, got {dtype!r}")
    return dtype


def check_loader_args(samples: Sequence[Sample], *, size: tuple[int, int], batch_size: int,
                      train: bool, aug: AugConfig | None, device: str, dtype: torch.dtype,
                      num_threads: int, seed: int, shard_id: int, num_shards: int,
                      flip_index: Sequence[int] | None, mean: Sequence[float] | None = None,
                      std: Sequence[float] | None = None, box_crop: BoxCrop | None = None,
                      keys: Sequence[str] | None = None, max_pixels: int | None = None) -> LoaderArgs:
    """Every ``build_loader`` argument checked (the plan's by :class:`EpochPlanner`); raises
    UsageError naming the argument (``device="cuda"`` without a GPU too)."""
    planner = EpochPlanner(samples, size=size, batch_size=batch_size, train=train, aug=aug,
                           seed=seed, shard_id=shard_id, num_shards=num_shards,
                           flip_index=flip_index, mean=mean, std=std, box_crop=box_crop, keys=keys)
    checked_device, checked_dtype = check_device(device), check_dtype(dtype)
    if int(num_threads) != num_threads or num_threads < 0:
        raise UsageError(f"num_threads must be a non-negative int, got {num_threads!r}")
    return LoaderArgs(planner, checked_device, checked_dtype, int(num_threads), max_pixels)
