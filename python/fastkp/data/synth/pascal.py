"""Synthetic PASCAL VOC 2007 multi-label set in the book's ``train.csv`` layout.

Each of the 20 VOC classes is one (shape, colour) pair, all pairs distinct:
class ``i`` (alphabetical) is ``SHAPES[i % 5]`` in ``COLOURS[i // 5]``. Images
hold one to three objects of different classes on a low-saturation
background; a quarter of the rows (at least one) are ``is_valid`` True.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm
from PIL import Image, ImageDraw

from .draw import gradient, jitter, save, to_uint8

CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
SHAPES = ("disc", "square", "triangle", "ring", "cross")
COLOURS = ((220, 30, 30), (30, 160, 50), (30, 70, 220), (240, 200, 20))  # red, green, blue, yellow
OBJECTS_P = (0.5, 0.35, 0.15)  # chance of 1, 2, 3 objects
VALID_SHARE = 0.25


def _turn(points: list[tuple[float, float]], quarters: int) -> list[tuple[float, float]]:
    for _ in range(quarters):
        points = [(-v, u) for u, v in points]
    return points


def _polygon(shape: str, x: float, y: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Outline of a square, triangle or cross of radius ``r`` turned by ``angle``."""
    if shape == "square":
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        scale = r / math.sqrt(2)
    elif shape == "triangle":
        corners = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        scale = r
    else:  # cross: 12 corners of a plus sign with arms a third as thick as long
        t = 1 / 3
        arm = [(t, -1), (t, -t), (1, -t)]  # one quarter; the others are it turned by 90 degrees
        corners = [q for k in range(4) for q in _turn(arm, k)]
        scale = r
    c, s = math.cos(angle), math.sin(angle)
    return [(x + scale * (u * c - v * s), y + scale * (u * s + v * c)) for u, v in corners]


def _draw(
    pen: ImageDraw.ImageDraw, cls: int, x: float, y: float, r: float, angle: float, fill: tuple[int, ...]
) -> None:
    """Class ``cls`` as its shape of radius ``r`` at (x, y)."""
    shape = SHAPES[cls % len(SHAPES)]
    box = [x - r, y - r, x + r, y + r]
    if shape == "disc":
        pen.ellipse(box, fill=fill)
    elif shape == "ring":
        pen.ellipse(box, outline=fill, width=max(2, int(r / 3)))
    else:
        pen.polygon(_polygon(shape, x, y, r, angle), fill=fill)


def _image(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    h, w = size
    canvas = Image.fromarray(to_uint8(gradient(rng, size, saturation=0.25)))
    pen = ImageDraw.Draw(canvas)
    classes = rng.choice(len(CLASSES), rng.choice(len(OBJECTS_P), p=OBJECTS_P) + 1, replace=False).tolist()
    placed: list[tuple[float, float, float]] = []
    for cls in classes:
        r = rng.uniform(0.12, 0.22) * min(h, w)
        for _ in range(20):  # prefer a free spot; overlap a little if none is found
            x, y = rng.uniform(r, w - r), rng.uniform(r, h - r)
            if all(math.hypot(x - px, y - py) > r + pr for px, py, pr in placed):
                break
        placed.append((x, y, r))
        fill = tuple(int(v) for v in jitter(rng, COLOURS[cls // len(SHAPES)], 25))
        _draw(pen, cls, x, y, r, rng.uniform(0, 2 * math.pi), fill)
    return np.asarray(canvas, dtype=np.float32), sorted(classes)


def make_pascal(root: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (375, 500),
                progress: bool = False) -> Path:
    """Write ``root/train.csv`` and ``root/train/NNNNNN.jpg`` (``size`` = (height, width));
    ``progress`` shows a bar. Same arguments, same bytes."""
    if n_images < 2:
        raise ValueError(f"n_images must be >= 2 (a training and a validation image), got {n_images}")
    root = Path(root).expanduser()
    (root / "train").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    valid = set(rng.permutation(n_images)[: max(1, round(VALID_SHARE * n_images))].tolist())
    with open(root / "train.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["fname", "labels", "is_valid"])
        for i in tqdm(range(n_images), desc="pascal demo set", unit="img", disable=not progress):
            fname = f"{i + 1:06d}.jpg"
            img, classes = _image(np.random.default_rng([seed, i]), size)
            save(img, root / "train" / fname)
            writer.writerow([fname, " ".join(CLASSES[c] for c in classes), str(i in valid)])
    return root
