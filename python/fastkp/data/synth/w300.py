"""Synthetic 300W set: drawn faces with the 68 iBUG points on the features they name.

The jaw points lie on the face outline, the brow points along the brows, the eye
points on the eye outlines (corners at their ends), the nose points on the bridge
line and the nostril bar, the lip points on the outer and inner lip outlines. Faces
are turned by up to 20 degrees; about ``NEAR_EDGE`` of them sit so close to an edge
that some points fall outside the image (kept, as 300W keeps them). Points are
written 1-based (``fastkp.data.w300.PTS_SHIFT``), the files in turn as the iBUG tools
write them (``PTS_STYLES``). ``make_300w`` writes 300W's layout (JPEG images, every
fifth a PNG), ``make_300vw`` 300-VW's (videos of one face each, frames as JPEGs).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...errors import UsageError
from ..w300 import ANNOT, FLIP_68, IMGS, N_POINTS, PTS_SHIFT, VALID
from .draw import HAIR, SKIN, clutter, fill_ellipse, gradient, jitter, save

NEAR_EDGE = 0.15
SUBSETS = ("helen", "lfpw")
# (version, line end, what follows the closing brace): 300W's files, 300-VW's version 1.0
# with Windows line ends, each also with a trailing blank line or trailing spaces
PTS_STYLES = (("1", "\n", ""), ("1.0", "\r\n", ""), ("1", "\n", "  \n"), ("1.0", "\r\n", "\r\n"))


def _ellipse_point(cu: float, cv: float, ru: float, rv: float, angle: float) -> tuple[float, float]:
    return cu + ru * math.cos(angle), cv + rv * math.sin(angle)


def face_points(g: dict[str, float]) -> np.ndarray:
    """(68, 2) points in face units (half face width 1, v down) of geometry ``g``: the
    image-left half and the axis are placed, the right half mirrors them by FLIP_68."""
    p = np.full((N_POINTS, 2), np.nan)
    a = 0.12  # the jaw starts a little above the face's middle line
    for i in range(9):
        p[i] = _ellipse_point(0, 0, 1, g["face_ry"], math.pi + a - (math.pi / 2 + a) * i / 8)
    for i in range(5):  # brow, outer to inner, slightly arched
        t = i / 4
        p[17 + i] = (-g["brow_out"] + t * (g["brow_out"] - g["brow_in"]), g["brow_y"] - 0.06 * math.sin(math.pi * t))
    for i in range(4):
        p[27 + i] = (0, g["eye_y"] + (g["nose_y"] - g["eye_y"]) * i / 3)
    nostril_v = g["nose_y"] + 0.08
    p[31], p[32], p[33] = (-g["nose_rx"], nostril_v), (-g["nose_rx"] / 2, nostril_v), (0, nostril_v)
    eye_u, eye_v, rx, ry = -g["eye_x"], g["eye_y"], g["eye_rx"], 0.45 * g["eye_rx"]
    for i, angle in zip(range(36, 42), (math.pi, 4 * math.pi / 3, 5 * math.pi / 3, 0, math.pi / 3, 2 * math.pi / 3)):
        p[i] = _ellipse_point(eye_u, eye_v, rx, ry, angle)
    mv, mrx, mry = g["mouth_y"], g["mouth_rx"], g["mouth_ry"]
    for i, angle in ((48, math.pi), (49, 1.25 * math.pi), (50, 1.4 * math.pi), (51, 1.5 * math.pi),
                     (59, 0.75 * math.pi), (58, 0.6 * math.pi), (57, 0.5 * math.pi)):  # fmt: skip
        p[i] = _ellipse_point(0, mv, mrx, mry, angle)
    for i, angle in ((60, math.pi), (61, 1.25 * math.pi), (62, 1.5 * math.pi), (67, 0.75 * math.pi),
                     (66, 0.5 * math.pi)):  # fmt: skip
        p[i] = _ellipse_point(0, mv, g["lip_rx"], g["lip_ry"], angle)
    for i, j in enumerate(FLIP_68):
        if np.isnan(p[j, 0]):
            p[j] = (-p[i, 0], p[i, 1])
    return p


def _geometry(rng: np.random.Generator) -> dict[str, float]:
    g = {
        "eye_x": rng.uniform(0.33, 0.45), "eye_y": rng.uniform(-0.3, -0.1), "eye_rx": rng.uniform(0.13, 0.18),
        "nose_y": rng.uniform(0.1, 0.25), "nose_rx": rng.uniform(0.1, 0.16),
        "mouth_rx": rng.uniform(0.3, 0.42), "mouth_ry": rng.uniform(0.08, 0.14), "face_ry": rng.uniform(1.2, 1.4),
        "brow_in": rng.uniform(0.08, 0.16), "brow_up": rng.uniform(0.18, 0.28),
    }  # fmt: skip
    g["mouth_y"] = g["nose_y"] + rng.uniform(0.28, 0.4)
    g["lip_rx"], g["lip_ry"] = 0.75 * g["mouth_rx"], rng.uniform(0.25, 0.5) * g["mouth_ry"]
    g["brow_y"] = g["eye_y"] - g["brow_up"]
    g["brow_out"] = g["eye_x"] + g["eye_rx"] + rng.uniform(0, 0.08)
    return g


def face_image(rng: np.random.Generator, size: tuple[int, int],
               pose: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One face image (H, W, 3) float and its (68, 2) points in fastkp pixels: the face, its
    colours and the background drawn from ``rng``, its place, size and roll from ``pose``
    (default ``rng``; a video's frames share ``rng``'s state and differ in ``pose``)."""
    h, w = size
    pose = rng if pose is None else pose
    g = _geometry(rng)
    pts = face_points(g)
    scale = pose.uniform(0.2, 0.27) * min(h, w)
    roll = math.radians(pose.uniform(-20, 20))
    if pose.random() < NEAR_EDGE:
        centre = np.array([pose.choice([0.1, 0.9]) * w, pose.uniform(0.3, 0.7) * h])
    else:
        centre = pose.uniform((0.4 * w, 0.42 * h), (0.6 * w, 0.58 * h))
    c, s = math.cos(roll), math.sin(roll)

    def at(u: float, v: float) -> tuple[float, float]:  # face units -> pixels
        return centre[0] + scale * (u * c - v * s), centre[1] + scale * (u * s + v * c)

    def ellipse(u: float, v: float, ru: float, rv: float, colour, turn: float = 0.0) -> None:
        fill_ellipse(img, at(u, v), (scale * ru, scale * rv), roll + turn, colour)

    def bar(p: np.ndarray, q: np.ndarray, thick: float, colour) -> None:
        (u0, v0), (u1, v1) = p, q
        ellipse((u0 + u1) / 2, (v0 + v1) / 2, max(math.hypot(u1 - u0, v1 - v0) / 2, thick), thick, colour,
                math.atan2(v1 - v0, u1 - u0))

    img = clutter(rng, gradient(rng, size), int(rng.integers(2, 6)))
    skin = jitter(rng, SKIN[rng.integers(len(SKIN))], 12)
    hair = jitter(rng, HAIR[rng.integers(len(HAIR))], 12)
    dark = (skin[0] * 0.6, skin[1] * 0.6, skin[2] * 0.6)
    ellipse(0, -0.45, 1.05, 0.9 * g["face_ry"], hair)
    ellipse(0, 0, 1, g["face_ry"], skin)
    for brow in (range(17, 21), range(22, 26)):
        for i in brow:
            bar(pts[i], pts[i + 1], 0.035, hair)
    for eye in (36, 45):
        cu = -g["eye_x"] if eye == 36 else g["eye_x"]
        ellipse(cu, g["eye_y"], g["eye_rx"], 0.45 * g["eye_rx"], (245, 245, 240))
        ellipse(cu, g["eye_y"], 0.3 * g["eye_rx"], 0.3 * g["eye_rx"], (25, 25, 35))
    bar(pts[27], pts[30], 0.025, dark)
    bar(pts[31], pts[35], 0.03, dark)
    ellipse(*pts[30], 0.05, 0.045, dark)
    ellipse(0, g["mouth_y"], g["mouth_rx"], g["mouth_ry"], (170, 50, 60))
    ellipse(0, g["mouth_y"], g["lip_rx"], g["lip_ry"], (60, 15, 20))
    return img, np.array([at(u, v) for u, v in pts])


def make_300w(
    root: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (128, 128), valid_folder: bool = True,
    progress: bool = False,
) -> Path:
    """Write ``root/train/SUBSET/NAME.{jpg,png}`` + ``NAME.pts`` (``size`` = (height, width)),
    a fifth of them under ``root/valid/`` when ``valid_folder``, else all under
    ``root/SUBSET/``. Same arguments, same bytes."""
    if n_images < 2:
        raise ValueError(f"n_images must be >= 2 (a training and a validation image), got {n_images}")
    root = Path(root).expanduser()
    n_valid = max(1, round(0.2 * n_images)) if valid_folder else 0
    for i in tqdm(range(n_images), desc="300W demo set", unit="img", disable=not progress):
        rng = np.random.default_rng([seed, i])
        img, points = face_image(rng, size)
        split = (VALID if i < n_valid else "train") if valid_folder else ""
        folder = root / split / SUBSETS[i % len(SUBSETS)]
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"image_{i + 1:05d}"
        save(img, folder / (stem + (".png" if i % 5 == 4 else ".jpg")))
        (folder / f"{stem}.pts").write_bytes(pts_text(points, i))
    return root


def pts_text(points: np.ndarray, i: int) -> bytes:
    """The ``.pts`` file of (68, 2) fastkp pixels, 1-based, in the ``i``-th of ``PTS_STYLES``."""
    version, end, tail = PTS_STYLES[i % len(PTS_STYLES)]
    lines = [f"version: {version}", f"n_points:  {N_POINTS}", "{"]
    lines += [f"{x - PTS_SHIFT:.3f} {y - PTS_SHIFT:.3f}" for x, y in points]
    return (end.join(lines + ["}"]) + end + tail).encode()


def make_300vw(root: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (128, 128), videos: int = 5,
               progress: bool = False) -> Path:
    """Write 300-VW's layout, ``root/NNN/annot/FFFFFF.pts`` beside ``root/NNN/imgs/FFFFFF.jpg``
    (no ``valid/``: the reader splits by video): ``n_images`` frames over ``videos`` videos
    of one face each before one background, placed anew in each frame. Same arguments, same
    bytes."""
    if videos < 2:
        raise ValueError(f"videos must be >= 2 (a training and a validation video), got {videos}")
    if n_images < videos:
        raise UsageError(f"{n_images} frames are too few for {videos} videos: at least one each", setting="n_images")
    root = Path(root).expanduser()
    for i in tqdm(range(n_images), desc="300-VW demo set", unit="frame", disable=not progress):
        video = i * videos // n_images
        first = -(-video * n_images // videos)  # the video's first i; its frames count from 1, as 300-VW's do
        img, points = face_image(np.random.default_rng([seed, video]), size, np.random.default_rng([seed, video, i]))
        folder, stem = root / f"{video + 1:03d}", f"{i - first + 1:06d}"
        for sub in (ANNOT, IMGS):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        save(img, folder / IMGS / f"{stem}.jpg")
        (folder / ANNOT / f"{stem}.pts").write_bytes(pts_text(points, i))
    return root
