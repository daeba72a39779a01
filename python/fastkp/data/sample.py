"""The record every reader returns and the error every reader raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DatasetError  # noqa: F401  (importable from here, as before)


@dataclass
class Sample:
    """One image and its targets.

    ``size`` is (height, width) of the image as displayed (EXIF orientation
    applied), read from the file header. ``keypoints`` are (K, 2) float32
    (x, y) pixel coordinates of that displayed image, NaN where a point is not
    labelled; ``labels`` is a float32 multi-hot vector (C,) (a binary target is one
    entry); ``values`` a float32 vector (D,) of regression targets; ``label`` the
    index of a single class. ``box`` is the object's float32 (x0, y0, x1, y1) in the
    same pixel coordinates (it may reach outside the image); ``visibility`` the int8
    (K,) COCO flags of the keypoints: 0 not labelled (that point is NaN), 1 labelled
    but occluded, 2 visible. ``area`` is the object's area in square pixels that COCO's OKS
    scales by (COCO: the annotation's segment ``area``; YOLO-pose: 0.53 * w * h of its box,
    Ultralytics' rule); None where the format has no object area (OKS then takes the box's
    w * h). ``source`` holds the format's own ids of the sample, for files that its tools
    read back (COCO: ``file``, the annotation JSON, and the annotation's ``id``,
    ``image_id`` and ``category_id``); None for formats without ids.
    """

    path: str
    size: tuple[int, int]
    keypoints: np.ndarray | None = None
    labels: np.ndarray | None = None
    values: np.ndarray | None = None
    label: int | None = None
    box: np.ndarray | None = None
    visibility: np.ndarray | None = None
    area: float | None = None
    source: dict | None = None


def check_inside(points: np.ndarray, size: tuple[int, int], where: str) -> None:
    """Reject labelled points more than half the image size outside the image."""
    h, w = size
    x, y = points[:, 0], points[:, 1]
    far = (x < -w / 2) | (x > 1.5 * w) | (y < -h / 2) | (y > 1.5 * h)
    if far.any():
        i = int(np.argmax(far))
        raise DatasetError(
            f"{where}: point {i} at ({x[i]:.1f}, {y[i]:.1f}) is far outside the {w}x{h} image"
        )
