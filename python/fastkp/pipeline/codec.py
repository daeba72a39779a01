"""The keypoint codec: the one place where points move between image pixels, the network's
frame and its [-1, 1] coordinates, and where they are mirrored (as mmpose's ``codecs``
encode targets, decode outputs and flip).

Frames. Points are (x, y) in pixels of the image as displayed, the top-left corner of the
top-left pixel at (0, 0) (a pixel's centre at ``i + 0.5``). The network sees a *frame* of
(H, W) input pixels: the whole image or a box's window, augmented or not, mapped by one
source-to-input matrix per image (:mod:`fastkp.pipeline.geometry`). Its outputs are in
fastai's [-1, 1] coordinates of that frame: ``x' = 2x/W - 1``, ``y' = 2y/H - 1``.

- :func:`encode`: image points -> the targets the loaders emit (0 where not visible) and
  their visibility (labelled and inside the frame);
- :func:`decode`: network outputs -> image pixels, through each image's matrix (training,
  validation, ``Learner.predict``); :func:`decode_window`: the same for an exported model,
  whose frame is an axis-aligned window (origin, size) of its input image;
- :func:`mirror`/:func:`flip_targets`: a horizontal flip (``x -> c - x``, then the flip
  permutation swaps left and right points), inside exports, outside them and in the loaders;
- :func:`diagonal`: the normaliser of ``nme``/``pck`` (the labelled points' box diagonal);
- :func:`labels`: the points as the data set labels them, what evaluation scores against;
  :func:`areas`: the objects' areas that OKS scales by.

Functions that training or export run on tensors take numpy arrays and torch tensors alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .geometry import HW, invert, transform_points

PCK_ALPHA = 0.1  # pck: a point is correct closer than this share of its normaliser


def _half(points, hw: HW):
    """(W/2, H/2) in the array type (and device) of ``points``."""
    h, w = hw
    if isinstance(points, torch.Tensor):
        return torch.tensor([w / 2.0, h / 2.0], dtype=points.dtype, device=points.device)
    return np.array([w / 2.0, h / 2.0])


def normalize_points(points, hw: HW):
    """Pixels of a frame of size ``hw`` (height, width) -> [-1, 1] (``2x/W - 1``)."""
    return points / _half(points, hw) - 1.0


def denormalize_points(points, hw: HW):
    """[-1, 1] -> pixels of a frame of size ``hw``; the inverse of :func:`normalize_points`."""
    return (points + 1.0) * _half(points, hw)


def to_pixels(offsets, hw: HW):
    """Offsets in [-1, 1] units -> the same offsets in pixels of the frame (dx * W/2)."""
    return offsets * _half(offsets, hw)


def inside(points: np.ndarray, hw: HW) -> np.ndarray:
    """(..., K) bool: the point is finite and within the frame [0, W] x [0, H]."""
    h, w = hw
    x, y = points[..., 0], points[..., 1]
    with np.errstate(invalid="ignore"):
        return (x >= 0) & (x <= w) & (y >= 0) & (y <= h)


def flip_targets(points: np.ndarray, flipped: np.ndarray, flip_index: np.ndarray | None) -> np.ndarray:
    """Points (N, K, 2) of the source images with each flipped image's points renumbered
    (point i becomes ``flip_index[i]``); the mirroring itself is in the image's matrix."""
    if flip_index is None or not flipped.any():
        return points
    points = points.copy()
    points[flipped] = points[flipped][:, flip_index]
    return points


def encode(points: np.ndarray, matrix: np.ndarray, hw: HW) -> tuple[np.ndarray, np.ndarray]:
    """Image points (N, K, 2) (NaN: not labelled) through source-to-input ``matrix`` (N, 2, 3)
    -> float32 targets in [-1, 1] of the (H, W) input, 0 where not visible, and the bool
    visibility (N, K): labelled and inside the input frame."""
    out = transform_points(matrix, np.asarray(points, np.float64))
    visible = inside(out, hw)
    return np.where(visible[..., None], normalize_points(out, hw), 0.0).astype(np.float32), visible


def decode(out, matrix, hw: HW):
    """Network outputs (N, K, 2) in [-1, 1] of the (H, W) input -> float64 image pixels,
    through the inverse of each image's source-to-input ``matrix`` (N, 2, 3)."""
    if isinstance(out, torch.Tensor):
        out, matrix = out.double(), matrix.double()
    else:
        out, matrix = np.asarray(out, np.float64), np.asarray(matrix, np.float64)
    return transform_points(invert(matrix), denormalize_points(out, hw))


def decode_window(out: torch.Tensor, origin: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Network outputs (B, K, 2) in [-1, 1] of a frame that squashes the window at ``origin``
    (B, 2) (x, y) of size ``frame`` (B, 2) (w, h) of each input image -> that image's pixels.
    Scriptable: exported models decode with it."""
    return origin.unsqueeze(1) + (out + 1.0) * 0.5 * frame.unsqueeze(1)


def mirror(points: torch.Tensor, flip_index: torch.Tensor, centre: float = 0.0) -> torch.Tensor:
    """Points (B, K, 2 + extra) found on mirrored images, as points of the originals: point i
    is the mirror's point ``flip_index[i]`` with x -> ``centre - x`` (``centre`` 0 in [-1, 1]
    coordinates, the image width W in pixels); columns after y (a score) travel with their
    point unchanged. Scriptable: exported models flip with it."""
    mirrored = points.index_select(1, flip_index)
    return torch.cat([centre - mirrored[..., :1], mirrored[..., 1:]], -1)


def diagonal(target, visible):
    """(N,) diagonal of each image's labelled (``visible`` (N, K)) target points' box
    (N, K, 2), at least one pixel; for an image without such a point NaN (numpy) or inf
    (torch, on the device: its points then weigh nothing in a sum)."""
    if isinstance(target, torch.Tensor):
        big = torch.finfo(target.dtype).max
        lo = torch.where(visible.unsqueeze(-1), target, big).amin(1)
        hi = torch.where(visible.unsqueeze(-1), target, -big).amax(1)
        return (hi - lo).norm(dim=-1).clamp_min(1.0)
    lo = np.where(visible[..., None], target, np.inf).min(axis=1)
    hi = np.where(visible[..., None], target, -np.inf).max(axis=1)
    with np.errstate(invalid="ignore"):
        diag = np.maximum(np.linalg.norm(hi - lo, axis=1), 1.0)
    return np.where(visible.any(axis=1), diag, np.nan)


def labels(samples: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the samples' keypoints are scored against, as the data set gives them: points
    (N, K, 2) float32 in image pixels (NaN where not labelled), their visibility flags (N, K)
    int8 (COCO's v: 0 not labelled, 1 occluded, 2 visible; 2 for every labelled point of a
    format without flags) and the image each sample shows (N,) int64 (people of one image
    share it: OKS matches per image)."""
    points = np.stack([s.keypoints for s in samples]).astype(np.float32)
    labelled = np.isfinite(points).all(-1)
    flags = [np.where(labelled[i], 2, 0) if s.visibility is None else s.visibility for i, s in enumerate(samples)]
    images = np.unique([s.path for s in samples], return_inverse=True)[1]
    return points, np.stack(flags).astype(np.int8), images.astype(np.int64)


def areas(samples: Sequence) -> np.ndarray | None:
    """(N,) float32 ``Sample.area`` of the samples (the object areas OKS scales by) when
    every sample has one, else None (OKS then takes each box's w * h)."""
    values = [s.area for s in samples]
    return None if any(v is None for v in values) else np.array(values, np.float32)
