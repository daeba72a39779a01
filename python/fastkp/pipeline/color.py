"""Pixel normalisation, with the per-sample lighting folded into it.

Both loaders turn a decoded uint8 pixel ``v`` (0..255) into ``v * scale + offset``
per channel: mean/std normalisation (ImageNet's by default; the body's weights say)
of ``0.5 + c * (v/255 - 0.5) + b`` (contrast c, brightness b; see
:class:`fastkp.pipeline.AugConfig`).
"""

from __future__ import annotations

import numpy as np

from ..backbones import IMAGENET_MEAN, IMAGENET_STD
from ..errors import UsageError


def check_mean_std(mean, std) -> tuple[np.ndarray, np.ndarray]:
    """(3,) float64 mean and std (None: ImageNet's); UsageError unless finite, std > 0."""
    m = np.asarray(IMAGENET_MEAN if mean is None else mean, dtype=np.float64)
    s = np.asarray(IMAGENET_STD if std is None else std, dtype=np.float64)
    if m.shape != (3,) or s.shape != (3,) or not np.all(np.isfinite(m)) or not np.all(np.isfinite(s) & (s > 0)):
        raise UsageError(f"mean and std must be 3 finite numbers each, std positive; got {mean!r}, {std!r}")
    return m, s


def scale_offset(contrast: np.ndarray, brightness: np.ndarray, mean: np.ndarray,
                 std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (N, 3) float32 ``scale`` and ``offset`` for (N,) contrast and brightness,
    ``mean`` and ``std`` from :func:`check_mean_std`."""
    c, b = contrast[:, None], brightness[:, None]
    scale = c / (255.0 * std)
    offset = (0.5 - 0.5 * c + b - mean) / std
    return scale.astype(np.float32), offset.astype(np.float32)
