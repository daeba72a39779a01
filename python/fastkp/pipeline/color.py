"""Pixel normalisation, with the per-sample lighting folded into it.

Both loaders turn a decoded uint8 pixel ``v`` (0..255) into ``v * scale + offset``
per channel: ImageNet mean/std normalisation of ``0.5 + c * (v/255 - 0.5) + b``
(contrast c, brightness b; see :class:`fastkp.pipeline.AugConfig`).
"""

from __future__ import annotations

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def scale_offset(contrast: np.ndarray, brightness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (N, 3) float32 ``scale`` and ``offset`` for (N,) contrast and brightness."""
    c, b = contrast[:, None], brightness[:, None]
    scale = c / (255.0 * IMAGENET_STD)
    offset = (0.5 - 0.5 * c + b - IMAGENET_MEAN) / IMAGENET_STD
    return scale.astype(np.float32), offset.astype(np.float32)
