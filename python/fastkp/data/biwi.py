"""Biwi Kinect Head Pose reader: one head-centre keypoint per frame.

Layout: ``ROOT/NN/frame_XXXXX_rgb.jpg`` with ``ROOT/NN/frame_XXXXX_pose.txt``
(three rotation rows, a blank line, the head translation ``tx ty tz`` in mm)
and one ``ROOT/NN/rgb.cal`` per person folder (3x3 intrinsics, blank, 4
distortion values, blank, 3x3 rotation, blank, translation). The centre is the
translation projected through that folder's own intrinsics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetMeta
from .formats import Format, register
from .images import read_header
from .on_error import Skipper
from .paths import scan
from .sample import DatasetError, Sample, check_inside
from .textio import parse_rows, read_text

FRAME = re.compile(r"frame_(\d+)_rgb\.(?:jpg|jpeg|png)")
POSE_ROWS = (3, 3, 3, 3)  # rotation rows, then translation
CAL_ROWS = (3, 3, 3, 4, 3, 3, 3, 3)  # intrinsics, distortion, rotation, translation


def _check_rows(rows: list[list[float]], expected: tuple[int, ...], what: str, where: str) -> None:
    if tuple(map(len, rows)) != expected:
        raise DatasetError(
            f"{where}: expected {what} as rows of {list(expected)} numbers, "
            f"got rows of {[len(r) for r in rows]}"
        )


def parse_pose(text: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Head rotation (3, 3) and translation (3,) in mm from a ``*_pose.txt`` text."""
    rows = parse_rows(text, where)
    _check_rows(rows, POSE_ROWS, "rotation, translation", where)
    rotation, translation = np.array(rows[:3]), np.array(rows[3])
    if translation[2] <= 0:
        raise DatasetError(f"{where}: translation tz = {translation[2]} mm must be > 0")
    return rotation, translation


def parse_cal(text: str, where: str) -> np.ndarray:
    """Camera intrinsics (3, 3) from an ``rgb.cal`` text (the other blocks are checked, not returned)."""
    rows = parse_rows(text, where)
    _check_rows(rows, CAL_ROWS, "intrinsics, distortion, rotation, translation", where)
    k = np.array(rows[:3])
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise DatasetError(f"{where}: focal lengths fx = {k[0, 0]}, fy = {k[1, 1]} must be > 0")
    return k


def head_centre(translation: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixel (x, y) of the head: ``x = tx*fx/tz + cx``, ``y = ty*fy/tz + cy``."""
    tx, ty, tz = translation
    k = intrinsics
    return np.array([tx * k[0, 0] / tz + k[0, 2], ty * k[1, 1] / tz + k[1, 2]])


def _frames(folder: Path) -> tuple[list[tuple[Path, Path]], list[DatasetError]]:
    """Sorted (image, pose file) pairs of one person folder, and its unreadable entries."""
    names, bad = scan(folder, lambda name: FRAME.fullmatch(name) is not None, "file")
    return [(folder / n, folder / f"frame_{FRAME.fullmatch(n)[1]}_pose.txt") for n in names], bad


def _sample(image: Path, pose: Path, intrinsics: np.ndarray, max_pixels: int | None) -> Sample:
    size = read_header(image, max_pixels).size
    _, translation = parse_pose(read_text(pose, "pose file"), str(pose))
    centre = head_centre(translation, intrinsics)[None].astype(np.float32)
    check_inside(centre, size, f"{pose} (head centre in {image.name})")
    return Sample(str(image), size, keypoints=centre)


def load_biwi(
    root: str | Path, valid_persons: Iterable[str] = ("13",), on_error: str = "raise", max_pixels: int | None = None
) -> Dataset:
    """Read a Biwi tree; valid = the ``valid_persons`` folders.

    Person folders are the sub-folders of ``root`` named by digits. Bad samples
    raise DatasetError, or are skipped and counted with ``on_error="skip"``.
    """
    skipper = Skipper(on_error, f"load_biwi({root})")
    root = Path(root).expanduser()
    valid_names = {valid_persons} if isinstance(valid_persons, str) else set(valid_persons)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    persons, bad = scan(root, str.isdigit, "dir")
    for err in bad:
        skipper.bad(err)
    if not persons:
        raise DatasetError(f"{root}: no person folders (NN/frame_XXXXX_rgb.jpg)")
    if missing := sorted(valid_names - set(persons)):
        raise DatasetError(f"{root}: validation person folder(s) {missing} not found")

    train: list[Sample] = []
    valid: list[Sample] = []
    found = 0
    for person in persons:
        frames, bad = _frames(root / person)
        for err in bad:
            skipper.bad(err)
        found += len(frames)
        if not frames:
            continue
        cal = root / person / "rgb.cal"
        try:
            intrinsics = parse_cal(read_text(cal, "camera calibration"), str(cal))
        except DatasetError as err:
            for image, _ in frames:
                skipper.bad(DatasetError(f"{err} (needed by {image.name})"))
            continue
        split = valid if person in valid_names else train
        for image, pose in frames:
            try:
                split.append(_sample(image, pose, intrinsics, max_pixels))
            except DatasetError as err:
                skipper.bad(err)
    skipper.report()
    if not found:
        raise DatasetError(f"{root}: no NN/frame_XXXXX_rgb.jpg images found")
    if not train:
        raise DatasetError(f"{root}: empty training split (no usable frames outside {sorted(valid_names)})")
    if not valid:
        raise DatasetError(f"{root}: empty validation split (no usable frames in {sorted(valid_names)})")
    return Dataset(train, valid, DatasetMeta("default", f"person folder(s) {sorted(valid_names)}"))


register(Format("default", "biwi", lambda root, o: load_biwi(root, on_error=o.on_error, max_pixels=o.max_pixels),
                description="Biwi Kinect Head Pose tree: NN/frame_XXXXX_{rgb.jpg,pose.txt}, NN/rgb.cal"))
