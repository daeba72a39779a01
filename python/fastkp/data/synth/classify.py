"""Synthetic single-label set: one shape per image, its class a (colour, shape) pair.

Class ``c`` is the PASCAL generator's shape ``SHAPES[c % 5]`` in ``COLOURS[c % 4]``,
named ``{colour}_{shape}``: up to 20 distinct classes, and with more than five neither
the colour nor the shape alone tells them apart. Image ``i`` is of class ``i % classes``;
the second of every five images of a class goes to validation, so each class is in both
splits once it has two images.
Images are JPEG.

``format="folders"``: ``ROOT/train/CLASS/NNNNN.jpg`` and ``ROOT/valid/CLASS/NNNNN.jpg``.
``format="csv"``: ``ROOT/labels.csv`` (``fname,label,is_valid``) and ``ROOT/images/``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

from ...errors import UsageError
from ..formats import formats_of
from .draw import gradient, jitter, save, to_uint8
from .pascal import COLOURS, SHAPES, _draw

COLOUR_NAMES = ("red", "green", "blue", "yellow")  # pascal.COLOURS in order
CLASS_NAMES = tuple(f"{COLOUR_NAMES[c % 4]}_{SHAPES[c % 5]}" for c in range(20))


def class_names(classes: int) -> list[str]:
    """The first ``classes`` class names (class ``c`` is ``CLASS_NAMES[c]``)."""
    if not 2 <= classes <= len(CLASS_NAMES):
        raise ValueError(f"classes must be in 2..{len(CLASS_NAMES)}, got {classes}")
    return list(CLASS_NAMES[:classes])


def shape_image(rng: np.random.Generator, size: tuple[int, int], cls: int) -> np.ndarray:
    """A float (H, W, 3) image of one object of class ``cls`` on a greyish gradient."""
    h, w = size
    canvas = Image.fromarray(to_uint8(gradient(rng, size, saturation=0.25)))
    r = rng.uniform(0.25, 0.4) * min(h, w)
    x, y = rng.uniform(r, w - r), rng.uniform(r, h - r)
    fill = tuple(int(v) for v in jitter(rng, COLOURS[cls % len(COLOURS)], 25))
    _draw(ImageDraw.Draw(canvas), cls, x, y, r, rng.uniform(0, 2 * math.pi), fill)
    return np.asarray(canvas, dtype=np.float32)


def make_classify(
    root: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (64, 64), classes: int = 10,
    format: str = "folders", progress: bool = False,
) -> Path:
    """Write ``n_images`` (at least two per class) in ``format`` ("folders" or "csv") to
    ``root``, ``size`` = (height, width); ``progress`` shows a bar. Same arguments, same bytes."""
    names = class_names(classes)
    if format not in formats_of("classes"):
        raise ValueError(f"format must be one of {formats_of('classes')}, got {format!r}")
    if n_images < 2 * classes:
        raise UsageError(f"{n_images} images are too few for {classes} classes: at least two per class "
                         f"(one for each split), {2 * classes} in all", setting="n_images")
    root = Path(root).expanduser()
    rows = [["fname", "label", "is_valid"]]
    for i in tqdm(range(n_images), desc="classify demo set", unit="img", disable=not progress):
        cls, is_valid = i % classes, (i // classes) % 5 == 1
        fname = f"{i + 1:05d}.jpg"
        folder = root / "images" if format == "csv" else root / ("valid" if is_valid else "train") / names[cls]
        folder.mkdir(parents=True, exist_ok=True)
        save(shape_image(np.random.default_rng([seed, i]), size, cls), folder / fname)
        rows.append([fname, names[cls], str(is_valid)])
    if format == "csv":
        with open(root / "labels.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
    return root
