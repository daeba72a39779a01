"""Synthetic Biwi Kinect Head Pose tree: a drawn head on a cluttered background.

Each person folder gets its own ``rgb.cal`` (fx, fy = 517.679 +- 3 %, cx, cy
= image centre +- 4 px at 640x480, scaled with ``size``). Each frame draws a
random head rotation, a translation whose projection through that folder's
intrinsics lies in the middle half of the image, and its own look (skin,
hair, shirt), so that a few folders already span the appearance range and a
model trained on them carries over to the validation person. The face
ellipse is centred exactly on the projection (pixel-corner convention) and
its size is ``75 mm * fx / tz``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .draw import HAIR, SKIN, Colour, clutter, fill_ellipse, gradient, jitter, save

VALID_PERSON = 13
FOCAL = 517.679  # Kinect RGB focal length at 640x480, as in the real rgb.cal
HEAD_MM = (75.0, 100.0)  # half width, half height of the drawn face


def person_names(persons: int) -> list[str]:
    """Folder names: ``01..NN`` when NN >= 13, else ``01..(NN-1)`` and ``13``."""
    if persons < 2:
        raise ValueError(f"persons must be >= 2 (one is the validation person 13), got {persons}")
    numbers = list(range(1, persons + 1)) if persons >= VALID_PERSON else [*range(1, persons), VALID_PERSON]
    return [f"{n:02d}" for n in numbers]


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rz(roll) @ Ry(yaw) @ Rx(pitch): orthonormal with determinant 1."""
    cy, sy, cp, sp, cr, sr = (f(a) for a in (yaw, pitch, roll) for f in (math.cos, math.sin))
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rz @ ry @ rx


def _rows(values: np.ndarray) -> str:
    """Rows of numbers as the real set writes them: 6 significant digits, trailing space."""
    return "".join("".join(f"{v:.6g} " for v in row) + "\n" for row in np.atleast_2d(values))


def _exact(values: np.ndarray) -> np.ndarray:
    """The values as they read back from ``_rows``, so drawing matches the files."""
    return np.array([[float(f"{v:.6g}") for v in row] for row in np.atleast_2d(values)]).reshape(values.shape)


def _calibration(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    h, w = size
    scale = w / 640
    f = FOCAL * scale * rng.uniform(0.97, 1.03)
    k = _exact(np.array([
        [f, 0, w / 2 + rng.uniform(-4, 4) * scale],
        [0, f * rng.uniform(0.995, 1.005), h / 2 + rng.uniform(-4, 4) * scale],
        [0, 0, 1],
    ]))
    extrinsic = rotation(*rng.uniform(-0.01, 0.01, 3))
    text = "\n".join([_rows(k), _rows(np.zeros(4)), _rows(extrinsic), _rows(rng.uniform(-25, 25, 3))])
    return k, text


def _shade(colour: Colour, factor: float) -> Colour:
    return (colour[0] * factor, colour[1] * factor, colour[2] * factor)


def _head(
    img: np.ndarray,
    centre: np.ndarray,
    half_size: tuple[float, float],
    angles: np.ndarray,
    look: list[Colour],
) -> None:
    """Shoulders, hair, face, eyes, brows, nose and mouth; the face is centred on ``centre``."""
    skin, hair, shirt = look
    yaw, pitch, roll = angles
    rx, ry = half_size
    c, s = math.cos(roll), math.sin(roll)

    def at(u: float, v: float) -> tuple[float, float]:  # head frame -> image
        return centre[0] + u * c - v * s, centre[1] + u * s + v * c

    fill_ellipse(img, (centre[0], centre[1] + 2.3 * ry), (2.4 * rx, 1.3 * ry), 0.0, shirt)
    fill_ellipse(img, at(-0.3 * math.sin(yaw) * rx, -0.15 * ry), (1.08 * rx, 0.95 * ry), roll, hair)
    fill_ellipse(img, centre, (rx, ry), roll, skin)
    du, dv = 0.5 * math.sin(yaw) * rx, 0.4 * math.sin(pitch) * ry
    for side in (-1, 1):
        eye = at(side * 0.38 * rx + du, -0.12 * ry + dv)
        fill_ellipse(img, eye, (0.16 * rx, 0.08 * ry), roll, (245, 245, 240))
        fill_ellipse(img, eye, (0.07 * rx, 0.07 * rx), roll, (20, 20, 30))
        fill_ellipse(img, at(side * 0.38 * rx + du, -0.3 * ry + dv), (0.2 * rx, 0.035 * ry), roll, hair)
    fill_ellipse(img, at(1.3 * du, 0.15 * ry + dv), (0.09 * rx, 0.07 * ry), roll, _shade(skin, 0.8))
    fill_ellipse(img, at(du, 0.5 * ry + dv), (0.3 * rx, 0.07 * ry), roll, (170, 60, 60))


def _frame(
    rng: np.random.Generator, size: tuple[int, int], k: np.ndarray
) -> tuple[np.ndarray, str]:
    """One image and its pose text."""
    h, w = size
    angles = np.radians(rng.uniform((-60, -35, -25), (60, 35, 25)))  # yaw, pitch, roll
    tz = rng.uniform(750, 1150)
    target = rng.uniform((0.25 * w, 0.25 * h), (0.75 * w, 0.75 * h))
    t = _exact(np.array([(target[0] - k[0, 2]) * tz / k[0, 0], (target[1] - k[1, 2]) * tz / k[1, 1], tz]))
    centre = np.array([t[0] * k[0, 0] / t[2] + k[0, 2], t[1] * k[1, 1] / t[2] + k[1, 2]])

    img = clutter(rng, gradient(rng, size), int(rng.integers(3, 9)))
    look = [SKIN[rng.integers(len(SKIN))], HAIR[rng.integers(len(HAIR))], tuple(rng.uniform(0, 255, 3))]
    look = [jitter(rng, c, 12) for c in look]
    _head(img, centre, (HEAD_MM[0] * k[0, 0] / t[2], HEAD_MM[1] * k[0, 0] / t[2]), angles, look)
    pose = _rows(rotation(*angles)) + "\n" + _rows(t)
    return img, pose


def make_biwi(
    root: str | Path,
    persons: int = 4,
    frames_per_person: int = 20,
    seed: int = 0,
    size: tuple[int, int] = (480, 640),
    progress: bool = False,
) -> Path:
    """Write a Biwi tree to ``root``: folders from ``person_names(persons)``, each with
    ``rgb.cal`` and ``frames_per_person`` frames numbered from 00003 with small gaps.
    ``size`` is (height, width); ``progress`` shows a bar. Same arguments, same bytes."""
    if frames_per_person < 1:
        raise ValueError(f"frames_per_person must be >= 1, got {frames_per_person}")
    root = Path(root).expanduser()
    bar = tqdm(total=persons * frames_per_person, desc="biwi demo set", unit="img", disable=not progress)
    for name in person_names(persons):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, int(name)])
        k, cal = _calibration(rng, size)
        (folder / "rgb.cal").write_text(cal)
        gaps = rng.integers(0, 3, frames_per_person)
        gaps[0] = 0
        numbers = 3 + np.arange(frames_per_person) + np.cumsum(gaps)
        for number in numbers.tolist():
            img, pose = _frame(np.random.default_rng([seed, int(name), number]), size, k)
            save(img, folder / f"frame_{number:05d}_rgb.jpg")
            (folder / f"frame_{number:05d}_pose.txt").write_text(pose)
            bar.update()
    bar.close()
    return root
