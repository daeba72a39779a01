"""Pixel-space affine geometry shared by the loaders, export and predict.

Coordinates: (x, y) in pixels with the top-left corner of the top-left pixel at
(0, 0), so pixel (i, j) covers [i, i + 1) x [j, j + 1) and its centre is at
(i + 0.5, j + 0.5). DALI's ``warp_affine`` uses the same convention. Points and the
[-1, 1] coordinates of the network's frame are :mod:`fastkp.pipeline.codec`'s.

A matrix is a float (..., 2, 3) array ``[A | t]`` mapping source pixels to output
pixels: ``p_out = A @ p_src + t``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

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


def to_3x3(m):
    """(..., 2, 3) -> (..., 3, 3) with the homogeneous row appended (float64 numpy, or a
    tensor of ``m``'s dtype and device)."""
    if isinstance(m, torch.Tensor):
        out = torch.zeros(m.shape[:-2] + (3, 3), dtype=m.dtype, device=m.device)
    else:
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


def invert(m):
    """Inverse of (..., 2, 3) affine matrices (numpy, or tensors on their device)."""
    inv = torch.linalg.inv if isinstance(m, torch.Tensor) else np.linalg.inv
    return inv(to_3x3(m))[..., :2, :]


def translation(tx: np.ndarray | float, ty: np.ndarray | float) -> np.ndarray:
    """(..., 2, 3) matrices that add (tx, ty)."""
    tx, ty = np.broadcast_arrays(np.asarray(tx, np.float64), np.asarray(ty, np.float64))
    m = np.zeros(tx.shape + (2, 3))
    m[..., 0, 0] = m[..., 1, 1] = 1.0
    m[..., 0, 2] = tx
    m[..., 1, 2] = ty
    return m


def transform_points(m, points):
    """Apply (..., 2, 3) matrices to (..., K, 2) points (numpy or torch); NaN stays NaN."""
    return points @ m[..., :, :2].mT + m[..., None, :, 2]
