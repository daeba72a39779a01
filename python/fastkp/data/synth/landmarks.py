"""Synthetic facial-landmark set: drawn faces with left/right symmetric points.

Points come in groups, symmetric pairs or single points on the face's axis;
``k`` takes the first groups and must be one of ``ALLOWED_K``. ``left_*`` is
the point on the image's left in the upright face, so a horizontal flip
swaps ``left_*`` and ``right_*`` and keeps axis points. Faces are turned by
up to 20 degrees; about ``UNLABELLED`` of the points are written as empty
pairs. Images are PNG.
"""

from __future__ import annotations

import csv
import json
import math
from itertools import accumulate
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .draw import HAIR, SKIN, Colour, clutter, fill_ellipse, gradient, jitter, save

GROUPS = (
    ("nose_tip",),
    ("left_eye", "right_eye"),
    ("left_mouth", "right_mouth"),
    ("chin",),
    ("left_brow_outer", "right_brow_outer"),
    ("left_brow_inner", "right_brow_inner"),
    ("mouth_top",),
    ("mouth_bottom",),
    ("left_eye_outer", "right_eye_outer"),
    ("left_eye_inner", "right_eye_inner"),
)
ALLOWED_K = tuple(accumulate(len(g) for g in GROUPS))
UNLABELLED = 0.08


def point_names(k: int) -> list[str]:
    """The first ``k`` point names; ``k`` must end on a whole group."""
    if k not in ALLOWED_K:
        raise ValueError(f"k must be one of {ALLOWED_K} (symmetric pairs stay whole), got {k}")
    return [name for group in GROUPS for name in group][:k]


def flip_index(names: list[str]) -> list[int]:
    """Index of each point's mirror image: left_* <-> right_*, axis points map to themselves."""
    swap = {"left": "right", "right": "left"}

    def mirror(name: str) -> str:
        side, _, rest = name.partition("_")
        return f"{swap[side]}_{rest}" if side in swap else name

    return [names.index(mirror(n)) for n in names]


def _face(rng: np.random.Generator) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """Random face geometry in face units (half face width = 1, +v down): points and shape."""
    g = {
        "eye_x": rng.uniform(0.33, 0.45),
        "eye_y": rng.uniform(-0.3, -0.1),
        "eye_rx": rng.uniform(0.13, 0.18),
        "nose_y": rng.uniform(0.1, 0.25),
        "mouth_rx": rng.uniform(0.25, 0.42),
        "mouth_ry": rng.uniform(0.06, 0.14),
        "face_ry": rng.uniform(1.2, 1.4),
        "brow_in": rng.uniform(0.1, 0.2),
        "brow_up": rng.uniform(0.18, 0.28),
    }
    g["mouth_y"] = g["nose_y"] + rng.uniform(0.25, 0.4)
    g["brow_y"] = g["eye_y"] - g["brow_up"]
    g["brow_out"] = g["eye_x"] + g["eye_rx"] + rng.uniform(0, 0.08)
    points = {
        "nose_tip": (0.0, g["nose_y"]),
        "chin": (0.0, g["face_ry"]),
        "mouth_top": (0.0, g["mouth_y"] - g["mouth_ry"]),
        "mouth_bottom": (0.0, g["mouth_y"] + g["mouth_ry"]),
    }
    for side, sign in (("left", -1), ("right", 1)):
        points[f"{side}_eye"] = (sign * g["eye_x"], g["eye_y"])
        points[f"{side}_eye_outer"] = (sign * (g["eye_x"] + g["eye_rx"]), g["eye_y"])
        points[f"{side}_eye_inner"] = (sign * (g["eye_x"] - g["eye_rx"]), g["eye_y"])
        points[f"{side}_mouth"] = (sign * g["mouth_rx"], g["mouth_y"])
        points[f"{side}_brow_outer"] = (sign * g["brow_out"], g["brow_y"] + 0.05)
        points[f"{side}_brow_inner"] = (sign * g["brow_in"], g["brow_y"])
    return points, g


def _image(
    rng: np.random.Generator, size: tuple[int, int], names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """One face image and its (K, 2) points in pixels."""
    h, w = size
    points, g = _face(rng)
    scale = rng.uniform(0.2, 0.27) * min(h, w)
    roll = math.radians(rng.uniform(-20, 20))
    centre = rng.uniform((0.4 * w, 0.42 * h), (0.6 * w, 0.58 * h))
    c, s = math.cos(roll), math.sin(roll)

    def at(u: float, v: float) -> tuple[float, float]:  # face units -> pixels
        return centre[0] + scale * (u * c - v * s), centre[1] + scale * (u * s + v * c)

    def ellipse(u: float, v: float, ru: float, rv: float, colour: Colour, turn: float = 0.0) -> None:
        fill_ellipse(img, at(u, v), (scale * ru, scale * rv), roll + turn, colour)

    img = clutter(rng, gradient(rng, size), int(rng.integers(2, 6)))
    skin = jitter(rng, SKIN[rng.integers(len(SKIN))], 12)
    hair = jitter(rng, HAIR[rng.integers(len(HAIR))], 12)
    ellipse(0, -0.25, 1.1, 0.95 * g["face_ry"], hair)
    ellipse(0, 0, 1, g["face_ry"], skin)
    for side in ("left", "right"):
        ellipse(*points[f"{side}_eye"], g["eye_rx"], 0.45 * g["eye_rx"], (245, 245, 240))
        ellipse(*points[f"{side}_eye"], 0.35 * g["eye_rx"], 0.35 * g["eye_rx"], (25, 25, 35))
        (u0, v0), (u1, v1) = points[f"{side}_brow_inner"], points[f"{side}_brow_outer"]
        half_length, turn = math.hypot(u1 - u0, v1 - v0) / 2, math.atan2(v1 - v0, u1 - u0)
        ellipse((u0 + u1) / 2, (v0 + v1) / 2, half_length, 0.035, hair, turn)
    ellipse(*points["nose_tip"], 0.07, 0.06, (skin[0] * 0.7, skin[1] * 0.7, skin[2] * 0.7))
    ellipse(0, g["mouth_y"], g["mouth_rx"], g["mouth_ry"], (170, 50, 60))
    return img, np.array([at(*points[n]) for n in names])


def make_landmarks(
    root: str | Path, n_images: int, k: int = 5, seed: int = 0, size: tuple[int, int] = (192, 192),
    progress: bool = False,
) -> Path:
    """Write ``root/landmarks.csv``, ``root/flip.json`` and ``root/images/NNNNN.png``
    (``size`` = (height, width)); ``progress`` shows a bar. Same arguments, same bytes."""
    names = point_names(k)
    if n_images < 2:
        raise ValueError(f"n_images must be >= 2 (a training and a validation image), got {n_images}")
    root = Path(root).expanduser()
    (root / "images").mkdir(parents=True, exist_ok=True)
    spec = {"names": names, "flip_index": flip_index(names)}
    (root / "flip.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    with open(root / "landmarks.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["fname"] + [f"{axis}{i}" for i in range(k) for axis in "xy"])
        for i in tqdm(range(n_images), desc="landmarks demo set", unit="img", disable=not progress):
            rng = np.random.default_rng([seed, i])
            fname = f"{i + 1:05d}.png"
            img, points = _image(rng, size, names)
            save(img, root / "images" / fname)
            hidden = rng.random(k) < UNLABELLED
            pairs = [("", "") if off else (f"{x:.3f}", f"{y:.3f}") for (x, y), off in zip(points, hidden)]
            writer.writerow([fname, *(v for pair in pairs for v in pair)])
    return root
