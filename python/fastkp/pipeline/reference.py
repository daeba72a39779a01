"""The reference loader: a plain ``torch.utils.data.DataLoader`` following the same plan.

PIL decodes (EXIF orientation applied, any mode converted to RGB) and
``torch.nn.functional.grid_sample`` warps each image with the matrix from the
same epoch plan as the DALI loader (:mod:`fastkp.pipeline.plan`), so for the
same arguments both loaders draw the same augmentation and emit the same
targets; only the pixel arithmetic differs (bilinear either way). It is the
correctness oracle of the tests and the baseline of the benchmark. Each worker
builds whole batches; ``num_threads`` is the number of worker processes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data import Sample
from .augment import AugConfig
from .decode import decode_checked, decode_rgb  # noqa: F401  (decode_rgb: importable from here)
from .geometry import compose, invert
from .boxes import BoxCrop
from .loader_args import LoaderArgs, check_loader_args
from .output import make_batch
from .plan import BatchPlan, EpochPlanner


def grid_theta(matrix: np.ndarray, src_hw: Sequence[int], out_hw: Sequence[int]) -> np.ndarray:
    """``affine_grid`` theta (2, 3) for the source -> output pixel ``matrix``: maps output
    [-1, 1] coordinates to source [-1, 1] coordinates (``align_corners=False``)."""
    (sh, sw), (oh, ow) = src_hw, out_hw
    out_to_px = np.array([[ow / 2.0, 0.0, ow / 2.0], [0.0, oh / 2.0, oh / 2.0]])
    px_to_unit = np.array([[2.0 / sw, 0.0, -1.0], [0.0, 2.0 / sh, -1.0]])
    return compose(px_to_unit, invert(matrix), out_to_px)


def warp(pixels: np.ndarray, matrix: np.ndarray, out_hw: Sequence[int],
         pad_mode: str) -> torch.Tensor:
    """Bilinear warp of (H, W, 3) uint8 ``pixels`` by ``matrix``: (oh, ow, 3) float32 0..255."""
    src = torch.from_numpy(pixels).permute(2, 0, 1)[None].float()
    theta = torch.from_numpy(grid_theta(matrix, pixels.shape[:2], out_hw)).float()[None]
    grid = F.affine_grid(theta, [1, 3, *out_hw], align_corners=False)
    out = F.grid_sample(src, grid, mode="bilinear", align_corners=False,
                        padding_mode="border" if pad_mode == "border" else "zeros")
    return out[0].permute(1, 2, 0)


class _Batches(torch.utils.data.Dataset):
    """Map-style dataset whose keys are whole BatchPlans."""

    def __init__(self, size: tuple[int, int], pad_mode: str, dtype: torch.dtype, max_pixels: int | None) -> None:
        self.size, self.pad_mode, self.dtype, self.max_pixels = size, pad_mode, dtype, max_pixels

    def __getitem__(self, plan: BatchPlan) -> dict[str, torch.Tensor]:
        images = []
        for path, hw, matrix in zip(plan.paths, plan.src_hw, plan.targets["matrix"]):
            pixels = decode_checked(path, hw, self.max_pixels)
            images.append(warp(pixels, matrix.astype(np.float64), self.size, self.pad_mode))
        nhwc = torch.stack(images) * torch.from_numpy(plan.scale)[:, None, None] \
            + torch.from_numpy(plan.offset)[:, None, None]
        return make_batch(nhwc, plan.targets, torch.device("cpu"), self.dtype)


class _PlanSampler(torch.utils.data.Sampler):
    """Yields the BatchPlans of ``epoch``; DataLoader may call iter() more than once."""

    def __init__(self, planner: EpochPlanner) -> None:
        self.planner = planner
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.planner)

    def __iter__(self) -> Iterator[BatchPlan]:
        return self.planner.epoch(self.epoch)


class ReferenceLoader:
    """Iterable over the batches of one shard; see :func:`build_loader`."""

    def __init__(self, args: LoaderArgs) -> None:
        self.planner, self.device = args.planner, args.device
        self.epoch = 0
        dataset = _Batches(self.planner.size, self.planner.aug.pad_mode, args.dtype, args.max_pixels)
        self._sampler = _PlanSampler(self.planner)
        self._loader = torch.utils.data.DataLoader(
            dataset, sampler=self._sampler, batch_size=None, num_workers=args.num_threads,
            persistent_workers=args.num_threads > 0, pin_memory=self.device.type == "cuda")

    def __len__(self) -> int:
        return len(self.planner)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (its shuffle and augmentation)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        self._sampler.epoch = self.epoch
        self.epoch += 1
        if self._loader.num_workers:
            # Workers are forked: collect garbage cycles first, or a worker's collector may
            # finalise objects it inherited, such as a DALI pipeline, whose threads it lacks.
            gc.collect()
        for batch in self._loader:
            yield {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}


def build_loader(
    samples: Sequence[Sample],
    *,
    size: tuple[int, int] = (240, 320),
    batch_size: int = 64,
    train: bool = True,
    aug: AugConfig | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    num_threads: int = 2,
    seed: int = 0,
    shard_id: int = 0,
    num_shards: int = 1,
    flip_index: Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    box_crop: BoxCrop | None = None,
    keys: Sequence[str] | None = None,
    max_pixels: int | None = None,
) -> ReferenceLoader:
    """Same arguments, batches and draws as :func:`fastkp.pipeline.build_loader`, from a
    PIL + ``grid_sample`` ``DataLoader`` with ``num_threads`` worker processes (0: none)."""
    return ReferenceLoader(check_loader_args(
        samples, size=size, batch_size=batch_size, train=train, aug=aug, device=device,
        dtype=dtype, num_threads=num_threads, seed=seed, shard_id=shard_id,
        num_shards=num_shards, flip_index=flip_index, mean=mean, std=std, box_crop=box_crop, keys=keys,
        max_pixels=max_pixels))
