"""Batches for training and evaluation: DALI decode with keypoint-preserving augmentation.

Coordinates (one convention everywhere): pixel (x, y) with the top-left corner
of the top-left pixel at (0, 0); the loaders emit keypoints normalised as in
fastai, ``x' = 2x/W - 1`` and ``y' = 2y/H - 1``, so the output frame spans
[-1, 1]. Each sample gets one source-to-output pixel matrix (flip, rotate,
zoom, skew, crop and the squash to the output size), applied to its pixels and
its points alike; :func:`resize_matrix` is the squash alone, as used without
augmentation and by export and predict.

- :func:`build_loader`: the DALI loader (``fastkp.pipeline.dali_loader``).
- :mod:`fastkp.pipeline.reference`: a PyTorch ``DataLoader`` with the same
  signature, draws and batches, the oracle of the tests.
"""

from .augment import AugConfig
from .dali_loader import DaliLoader, build_loader
from .codec import denormalize_points, normalize_points
from .geometry import resize_matrix, transform_points

__all__ = [
    "AugConfig",
    "DaliLoader",
    "build_loader",
    "denormalize_points",
    "normalize_points",
    "resize_matrix",
    "transform_points",
]
