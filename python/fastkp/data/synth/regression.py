"""Synthetic DIGITS regression set: the "linear images" of DIGITS's image-regression example.

Each grayscale image has constant x and y gradients ``gx``, ``gy`` drawn from
U(-0.5, 0.5): pixel (row y, column x) = ``gx*255/W*(x - W/2) + gy*255/H*(y - H/2) +
127.5``, truncated to uint8 as DIGITS's ``test_lmdb_creator.py`` does. Written in the
layout ``load_values`` reads: ``ROOT/labels.csv`` (``fname,gx,gy``, no ``is_valid``:
the default split) and ``ROOT/images/NNNNN.png``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

NAMES = ("gx", "gy")


def linear_image(gx: float, gy: float, size: tuple[int, int]) -> np.ndarray:
    """The uint8 (H, W) image whose normalised x and y gradients are ``gx`` and ``gy``."""
    h, w = size
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    return (gx * 255 / w * (xx - w / 2) + gy * 255 / h * (yy - h / 2) + 127.5).astype(np.uint8)


def make_regression(
    root: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (64, 64), progress: bool = False
) -> Path:
    """Write ``root/labels.csv`` and ``root/images/NNNNN.png`` (``size`` = (height, width));
    ``progress`` shows a bar. Same arguments, same bytes."""
    if n_images < 2:
        raise ValueError(f"n_images must be >= 2 (a training and a validation image), got {n_images}")
    root = Path(root).expanduser()
    (root / "images").mkdir(parents=True, exist_ok=True)
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["fname", *NAMES])
        for i in tqdm(range(n_images), desc="regression demo set", unit="img", disable=not progress):
            fname = f"{i + 1:05d}.png"
            text = [f"{v:.6f}" for v in np.random.default_rng([seed, i]).uniform(-0.5, 0.5, 2)]
            Image.fromarray(linear_image(*map(float, text), size)).save(root / "images" / fname)  # as written
            writer.writerow([fname, *text])
    return root
