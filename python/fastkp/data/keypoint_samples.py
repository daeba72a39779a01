"""The keypoint sample the 300W, COCO, DeepLabCut and YOLO-pose readers all build: points
NaN where unlabelled, COCO visibility flags, a box (the format's own or the points' box
grown by a margin), one header read per image however many objects it holds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .images import read_header
from .on_error import Skipper
from .sample import DatasetError, Sample, check_inside

MARGIN = 0.125  # box from points: each side moves out by this share of the points' larger extent ...
MIN_PAD = 0.02  # ... and by at least this share of the image's smaller side


def points_box(points: np.ndarray, size: tuple[int, int] | np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """float32 (x0, y0, x1, y1) around the labelled (non-NaN) points (K, 2), each side moved
    out by ``margin`` times their larger extent and at least ``MIN_PAD`` of the image's
    smaller side; not clamped to the image. No labelled point: the whole image. Points
    (N, K, 2) with sizes (N, 2) give (N, 4) boxes."""
    points = np.asarray(points, np.float32)
    hw = np.asarray(size, np.float64)
    lo, hi = np.fmin.reduce(points, axis=-2), np.fmax.reduce(points, axis=-2)  # NaN only if all are
    pad = np.maximum(margin * (hi - lo).max(axis=-1).astype(np.float64), MIN_PAD * hw.min(axis=-1))
    box = np.concatenate([lo - pad[..., None], hi + pad[..., None]], axis=-1)
    whole = np.concatenate([np.zeros_like(hw), hw[..., ::-1]], axis=-1)
    return np.where(np.isnan(lo).any(axis=-1, keepdims=True), whole, box).astype(np.float32)


def keypoint_sample(
    path: Path | str, size: tuple[int, int], points: np.ndarray, visibility: np.ndarray,
    box: np.ndarray | None, where: str, area: float | None = None, source: dict | None = None,
) -> Sample:
    """The Sample the keypoint readers return: points NaN where ``visibility`` is 0, labelled
    points checked not to be far outside the image (points outside it are kept), the box
    (``points_box`` when None) as float32, the object's ``area`` and the format's ``source`` ids (``Sample``)."""
    points = np.asarray(points, np.float32).copy()
    visibility = np.asarray(visibility, np.int8)
    points[visibility == 0] = np.nan
    check_inside(points, size, where)
    if box is None:
        box = points_box(points, size)
    return Sample(str(path), size, keypoints=points, box=np.asarray(box, np.float32), visibility=visibility,
                  area=area, source=source)


def keypoint_samples(records: Sequence[tuple | DatasetError], skipper: Skipper) -> list[Sample]:
    """What ``keypoint_sample(path, size, points, visibility, None, where)`` makes of each
    record, a tuple of those five (all with the same number of points) or the DatasetError it
    failed with, computed for all records at once: NumPy's cost per call is more than the
    arithmetic of one record. Errors, a far-outside point's included, go to ``skipper`` in
    record order, so ``on_error`` acts as with one call per record."""
    rows: Iterator[tuple] = iter(())
    if good := [r for r in records if not isinstance(r, DatasetError)]:
        paths, sizes, points, visibility, wheres = zip(*good)
        points = np.array(points, np.float32)  # (N, K, 2)
        visibility = np.array(visibility, np.int8)
        points[visibility == 0] = np.nan
        hw = np.array(sizes, np.float64)
        wh = hw[:, ::-1]
        lo, hi = np.fmin.reduce(points, axis=1), np.fmax.reduce(points, axis=1)  # (N, 2); NaN: none labelled
        # check_inside's test on each record's extreme points, with its float32 bounds; it
        # then checks the records found here itself, naming the point
        far = ((lo < (-wh / 2).astype(np.float32)) | (hi > (1.5 * wh).astype(np.float32))).any(axis=1)
        rows = zip(paths, sizes, points, visibility, points_box(points, hw), far, wheres)
    samples: list[Sample] = []
    for r in records:
        if isinstance(r, DatasetError):
            skipper.bad(r)
            continue
        path, size, pts, vis, box, is_far, where = next(rows)
        if is_far:
            try:
                check_inside(pts, size, where)  # raises, naming the point
            except DatasetError as err:
                skipper.bad(err)
                continue
        samples.append(Sample(str(path), size, keypoints=pts, box=box, visibility=vis))
    return samples


class Headers:
    """``read_header(path, max_pixels).size`` once per image, errors included: many objects
    in one image cost one header read."""

    def __init__(self, max_pixels: int | None = None) -> None:
        self.max_pixels = max_pixels
        self._seen: dict[str, tuple[int, int] | DatasetError] = {}

    def size(self, path: Path | str) -> tuple[int, int]:
        key = str(path)
        hit = self._seen.get(key)
        if hit is None:
            try:
                hit = read_header(key, self.max_pixels).size
            except DatasetError as err:
                hit = err
            self._seen[key] = hit
        if isinstance(hit, DatasetError):
            raise DatasetError(str(hit))
        return hit
