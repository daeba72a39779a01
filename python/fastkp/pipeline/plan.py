"""The epoch plan both loaders follow: which samples each batch holds, their draws and targets.

Training: every epoch draws a permutation and the augmentation of every sample
from ``numpy.random.default_rng((seed, epoch))``, so a sample's augmentation
depends on (seed, epoch, index) only. Each of ``num_shards`` shards takes a
block of the permutation (sizes differ by one at most) and completes its last
batch from the start of its block, so every sample is seen every epoch and all
shards yield the same number of full batches. Validation: no augmentation, shards take
contiguous blocks of the samples in order, and the last partial batch is kept,
so every sample is seen exactly once across shards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..data import Sample
from ..errors import UsageError
from . import augment
from .augment import AugConfig
from .boxes import BoxCrop, check_boxes
from .color import check_mean_std, scale_offset
from . import codec
from .geometry import compose, invert, transform_points, translation


@dataclass
class BatchPlan:
    """One batch: what to decode and how, and the targets to emit beside the images."""

    paths: list[str]
    src_hw: np.ndarray  # (B, 2) int64 displayed (height, width)
    roi_anchor: np.ndarray  # (B, 2) int32 (x, y): decode only this window of the source ...
    roi_shape: np.ndarray  # (B, 2) int32 (width, height)
    roi_matrix: np.ndarray  # (B, 2, 3) float32 ... and warp it with this matrix
    scale: np.ndarray  # (B, 3) float32, see color.scale_offset
    offset: np.ndarray  # (B, 3) float32
    targets: dict[str, np.ndarray]  # index, matrix and the TARGETS asked for that the samples have


# What a batch can carry beside its images, index and matrix (build_loader's docstring):
# computed per batch from the draws, then taken per sample.
DRAWN = ("keypoints", "visible")
TAKEN = ("points_px", "visibility", "image_id", "area", "boxes", "labels", "values", "label")
TARGETS = DRAWN + TAKEN
SCORING = ("points_px", "visibility", "image_id", "area")  # the data set's own labels: validation scores with them


def _stack_optional(values: list[np.ndarray | None], name: str, ndim: int) -> np.ndarray | None:
    present = [v is not None for v in values]
    if not any(present):
        return None
    if not all(present):
        raise UsageError(f"some samples have {name} and some have None")
    arrays = [np.asarray(v, np.float32) for v in values]
    shapes = {a.shape for a in arrays}
    points = name == "keypoints"
    if len(shapes) != 1 or arrays[0].ndim != ndim or (points and arrays[0].shape[1] != 2):
        raise UsageError(f"samples' {name} must share one shape, got {sorted(shapes)[:3]}")
    return np.stack(arrays)


def _roi(matrix: np.ndarray, src_hw: np.ndarray, out_hw: tuple[int, int]):
    """Integer window (anchor, shape) of each source that the output frame samples, with a
    one-pixel margin for bilinear taps. Decoding only this window is exact: a tap the warp
    clamps to the image edge falls inside the window too."""
    oh, ow = out_hw
    corners = np.array([[0.0, 0.0], [ow, 0.0], [0.0, oh], [ow, oh]])
    src_pts = transform_points(invert(matrix), corners)  # (B, 4, 2)
    size = src_hw[:, ::-1].astype(np.float64)  # (w, h)
    lo = np.clip(np.floor(src_pts.min(axis=1)) - 1, 0, size)
    hi = np.clip(np.ceil(src_pts.max(axis=1)) + 1, 0, size)
    empty = np.any(hi <= lo, axis=1)  # the view misses the image: decode it all
    lo[empty], hi[empty] = 0, size[empty]
    return lo.astype(np.int32), (hi - lo).astype(np.int32)


class EpochPlanner:
    """Validates the loader arguments and plans each epoch of one shard."""

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        size: tuple[int, int],
        batch_size: int,
        train: bool,
        aug: AugConfig | None,
        seed: int,
        shard_id: int,
        num_shards: int,
        flip_index: Sequence[int] | None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        box_crop: BoxCrop | None = None,
        keys: Sequence[str] | None = None,
    ) -> None:
        if keys is not None and (unknown := sorted(set(keys) - set(TARGETS))):
            raise UsageError(f"keys {unknown} are not batch targets; they are {', '.join(TARGETS)}")
        if len(samples) == 0:
            raise UsageError("samples is empty")
        if len(size) != 2 or any(int(s) != s or s <= 0 for s in size):
            raise UsageError(f"size must be two positive ints (height, width), got {size!r}")
        if int(batch_size) != batch_size or batch_size <= 0:
            raise UsageError(f"batch_size must be a positive int, got {batch_size!r}")
        if int(num_shards) != num_shards or num_shards <= 0:
            raise UsageError(f"num_shards must be a positive int, got {num_shards!r}")
        if int(shard_id) != shard_id or not 0 <= shard_id < num_shards:
            raise UsageError(f"shard_id must be in [0, {num_shards}), got {shard_id!r}")
        if aug is not None and not isinstance(aug, AugConfig):
            raise UsageError(f"aug must be an AugConfig or None, got {type(aug).__name__}")
        if int(seed) != seed or seed < 0:  # numpy's default_rng((seed, epoch)) takes no others
            raise UsageError(f"seed must be a non-negative int, got {seed!r}")
        self.size = (int(size[0]), int(size[1]))
        self.batch_size = int(batch_size)
        self.train = bool(train)
        self.aug = aug or AugConfig()
        self.mean, self.std = check_mean_std(mean, std)
        self.seed = int(seed)
        self.shard_id, self.num_shards = int(shard_id), int(num_shards)

        self.paths = [os.path.expanduser(s.path) for s in samples]
        self.src_hw = np.array([s.size for s in samples], dtype=np.int64).reshape(len(samples), -1)
        if self.src_hw.shape[1] != 2 or np.any(self.src_hw <= 0):
            raise UsageError("every Sample.size must be a positive (height, width)")
        self.keypoints = _stack_optional([s.keypoints for s in samples], "keypoints", 2)
        taken: dict[str, np.ndarray | None] = dict.fromkeys(TAKEN)
        if self.keypoints is not None:
            taken.update(zip(("points_px", "visibility", "image_id"), codec.labels(samples)))
            taken["area"] = codec.areas(samples)
        taken["labels"] = _stack_optional([s.labels for s in samples], "labels", 1)
        taken["values"] = _stack_optional([s.values for s in samples], "values", 1)
        classes = _stack_optional([None if s.label is None else np.array([s.label]) for s in samples], "label", 1)
        taken["label"] = None if classes is None else classes[:, 0].astype(np.int64)
        if box_crop is not None and not isinstance(box_crop, BoxCrop):
            raise UsageError(f"box_crop must be a BoxCrop or None, got {type(box_crop).__name__}")
        has_box = [s.box is not None for s in samples]
        if box_crop is not None and not all(has_box):
            raise UsageError(f"box_crop needs a box on every sample; {samples[has_box.index(False)].path} has none")
        # boxes in source pixels: the crop windows, and a target for the box-normalised metrics
        taken["boxes"] = check_boxes([s.box for s in samples], "samples", self.paths) if all(has_box) else None
        self.windows = None if box_crop is None else box_crop.windows(taken["boxes"], self.size)
        wanted = set(TARGETS if keys is None else keys)
        self.taken = {k: v for k, v in taken.items() if v is not None and k in wanted}
        self.drawn = self.keypoints is not None and bool(wanted & set(DRAWN))
        self.flip_index = None
        if flip_index is not None:
            k = 0 if self.keypoints is None else self.keypoints.shape[1]
            self.flip_index = np.asarray(flip_index, dtype=np.int64)
            if sorted(self.flip_index.tolist()) != list(range(k)) or k == 0:
                raise UsageError(f"flip_index must be a permutation of the {k} keypoints, got "
                                 f"{list(flip_index)!r}")

        n = len(samples)
        if self.train:
            # every image in every epoch: the shards split the epoch's order, and each shard's
            # last batch is completed from the start of its share (np.resize wraps around)
            if n // self.num_shards < self.batch_size:
                raise UsageError(f"{n} samples cannot fill one training batch of {self.batch_size} "
                                 f"on each of {self.num_shards} shards")
            per_shard = -(-n // self.num_shards)
            self.num_batches = -(-per_shard // self.batch_size)
        else:
            self.mine = np.array_split(np.arange(n), self.num_shards)[self.shard_id]
            self.num_batches = -(-len(self.mine) // self.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def epoch(self, epoch: int) -> Iterator[BatchPlan]:
        """The batches of this shard in ``epoch``."""
        n = len(self.paths)
        if self.train:
            rng = np.random.default_rng((self.seed, epoch))
            order = rng.permutation(n)
            draws = augment.draw(rng, self.src_hw, self.size, self.aug, self.windows)
            mine = np.resize(np.array_split(order, self.num_shards)[self.shard_id], self.num_batches * self.batch_size)
        else:
            mine = self.mine
            draws = augment.no_augmentation(self.src_hw, self.size, self.windows)
        for b in range(self.num_batches):
            index = mine[b * self.batch_size : (b + 1) * self.batch_size]
            yield self._plan(index, draws.take(index))

    def _plan(self, index: np.ndarray, draws: augment.Draws) -> BatchPlan:
        src_hw = self.src_hw[index]
        anchor, shape = _roi(draws.matrix, src_hw, self.size)
        roi_matrix = compose(draws.matrix, translation(anchor[:, 0], anchor[:, 1]))
        scale, offset = scale_offset(draws.contrast, draws.brightness, self.mean, self.std)
        targets = {}
        if self.drawn:
            points = codec.flip_targets(self.keypoints[index], draws.flipped, self.flip_index)
            targets["keypoints"], targets["visible"] = codec.encode(points, draws.matrix, self.size)
        targets.update((key, value[index]) for key, value in self.taken.items())
        targets.update(index=index.astype(np.int64), matrix=draws.matrix.astype(np.float32))
        return BatchPlan([self.paths[i] for i in index], src_hw, anchor, shape,
                         roi_matrix.astype(np.float32), scale, offset, targets)
