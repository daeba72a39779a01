"""Pixel-space affine geometry shared by the loaders, export and predict.

Coordinates: (x, y) in pixels with the top-left corner of the top-left pixel at
(0, 0), so pixel (i, j) covers [i, i + 1) x [j, j + 1) and its centre is at
(i + 0.5, j + 0.5). DALI's ``warp_affine`` uses the same convention. Normalised
coordinates follow fastai: ``x' = 2x/W - 1``, ``y' = 2y/H - 1``, so the frame
spans [-1, 1] (``torch.nn.functional.grid_sample`` with ``align_corners=False``).

A matrix is a float (..., 2, 3) array ``[A | t]`` mapping source pixels to output
pixels: ``p_out = A @ p_src + t``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HW = Sequence[int] | np.ndarray  # (height, width), or (..., 2) of them


def resize_matrix(src_hw: HW, dst_hw: HW) -> np.ndarray:
    """The matrix that squashes an image of size ``src_hw`` onto ``dst_hw`` (no crop, no
    letterbox): ``x_dst = x_src * W_dst / W_src``, likewise for y. Broadcasts over
    leading dimensions of (..., 2) size arrays; returns float64 (..., 2, 3)."""
    src = np.asarray(src_hw, dtype=np.float64)
    dst = np.asarray(dst_hw, dtype=np.float64)
    scale = dst / src  # (..., 2) as (sy, sx)
    m = np.zeros(scale.shape[:-1] + (2, 3))
    m[..., 0, 0] = scale[..., 1]
    m[..., 1, 1] = scale[..., 0]
    return m


def to_3x3(m: np.ndarray) -> np.ndarray:
    """(..., 2, 3) -> (..., 3, 3) with the homogeneous row appended."""
    out = np.zeros(m.shape[:-2] + (3, 3), dtype=np.float64)
    out[..., :2, :] = m
    out[..., 2, 2] = 1.0
    return out


def compose(*ms: np.ndarray) -> np.ndarray:
    """``compose(a, b, c)`` applies c first, then b, then a; takes and returns (..., 2, 3)."""
    out = to_3x3(ms[-1])
    for m in reversed(ms[:-1]):
        out = to_3x3(m) @ out
    return out[..., :2, :]


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of (..., 2, 3) affine matrices."""
    return np.linalg.inv(to_3x3(m))[..., :2, :]


def translation(tx: np.ndarray | float, ty: np.ndarray | float) -> np.ndarray:
    """(..., 2, 3) matrices that add (tx, ty)."""
    tx, ty = np.broadcast_arrays(np.asarray(tx, np.float64), np.asarray(ty, np.float64))
    m = np.zeros(tx.shape + (2, 3))
    m[..., 0, 0] = m[..., 1, 1] = 1.0
    m[..., 0, 2] = tx
    m[..., 1, 2] = ty
    return m


def transform_points(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply (..., 2, 3) matrices to (..., K, 2) points; NaN stays NaN."""
    return points @ np.swapaxes(m[..., :, :2], -1, -2) + m[..., None, :, 2]


def normalize_points(points: np.ndarray, hw: HW) -> np.ndarray:
    """Pixel (x, y) in a frame of size ``hw`` -> [-1, 1] (``2x/W - 1``)."""
    h, w = hw
    return points * np.array([2.0 / w, 2.0 / h]) - 1.0


def denormalize_points(points: np.ndarray, hw: HW) -> np.ndarray:
    """[-1, 1] -> pixel (x, y) in a frame of size ``hw``; inverse of normalize_points."""
    h, w = hw
    return (points + 1.0) * np.array([w / 2.0, h / 2.0])


def inside(points: np.ndarray, hw: HW) -> np.ndarray:
    """(..., K) bool: the point is finite and within the frame [0, W] x [0, H]."""
    h, w = hw
    x, y = points[..., 0], points[..., 1]
    with np.errstate(invalid="ignore"):
        return (x >= 0) & (x <= w) & (y >= 0) & (y <= h)
