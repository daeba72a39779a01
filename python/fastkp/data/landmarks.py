"""Facial-landmark reader: K points per image with a horizontal-flip permutation.

Layout: ``root/landmarks.csv`` with the header ``fname,x0,y0,...,x{K-1},y{K-1}``
(an empty x,y pair = point not labelled, read as NaN), images in
``root/images/``, and ``root/flip.json`` = ``{"names": [K names], "flip_index":
[K ints]}`` where point ``i`` becomes point ``flip_index[i]`` under a
horizontal flip.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetMeta
from .flips import parse_landmark_flip
from .formats import Format, register
from .images import read_header
from .on_error import Skipper
from .paths import image_name
from .sample import DatasetError, Sample, check_inside
from .splits import check_valid_frac, random_rule, random_split
from .textio import parse_float, read_csv, read_text

CSV_FILE = "landmarks.csv"
FLIP_FILE = "flip.json"
IMAGES = "images"


def parse_header(header: list[str], where: str) -> int:
    """Number of points K named by ``fname,x0,y0,...``; anything else is an error."""
    names = [name.strip() for name in header]
    k = (len(names) - 1) // 2
    expected = ["fname"] + [f"{axis}{i}" for i in range(k) for axis in "xy"]
    if k < 1 or names != expected:
        raise DatasetError(f"{where}: header must be fname,x0,y0,x1,y1,... got {','.join(names)}")
    return k


def parse_points(fields: list[str], where: str) -> np.ndarray:
    """(K, 2) float32 from ``x0,y0,...`` strings; an empty pair gives NaN."""
    points = np.full((len(fields) // 2, 2), np.nan, np.float32)
    for i, (x, y) in enumerate(zip(fields[::2], fields[1::2])):
        if not x.strip() and not y.strip():
            continue
        if not x.strip() or not y.strip():
            raise DatasetError(f"{where}: field x{i},y{i}: only one of the pair is given")
        points[i] = parse_float(x, f"{where}: field x{i}"), parse_float(y, f"{where}: field y{i}")
    return points


def load_landmarks(
    root: str | Path, valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise", max_pixels: int | None = None
) -> Dataset:
    """Read a landmark tree, its point names and flip permutation from flip.json.

    The usable rows are split at random (``fastkp.data.splits``): ``round(valid_frac * n)``
    of them, chosen by ``numpy.random.default_rng(seed)``, form ``valid``; both splits
    keep the CSV order.
    """
    skipper = Skipper(on_error, f"load_landmarks({root})")
    check_valid_frac(valid_frac)
    root = Path(root).expanduser()
    path = root / CSV_FILE
    rows = read_csv(path)
    if not rows:
        raise DatasetError(f"{path}: empty file, expected a header fname,x0,y0,...")
    k = parse_header(rows[0][1], f"{path}: line {rows[0][0]}")
    flip_path = root / FLIP_FILE
    names, flip_index = parse_landmark_flip(read_text(flip_path, "flip permutation"), str(flip_path), k)

    samples: list[Sample] = []
    first_line: dict[str, int] = {}
    for line, row in rows[1:]:
        where = f"{path}: line {line}"
        try:
            if len(row) != 1 + 2 * k:
                raise DatasetError(f"{where}: {len(row)} fields, the header has {1 + 2 * k}")
            fname = image_name(row[0], where)
            if fname in first_line:  # the random split could put it on both sides
                raise DatasetError(f"{where}: {fname} is also on line {first_line[fname]}")
            first_line[fname] = line
            points = parse_points(row[1:], where)
            image = root / IMAGES / fname
            size = read_header(image, max_pixels).size
            check_inside(points, size, f"{where} ({image.name})")
            samples.append(Sample(str(image), size, keypoints=points))
        except DatasetError as err:
            skipper.bad(err)
    skipper.report()
    if not samples:
        raise DatasetError(f"{path}: no usable rows")

    train, valid = random_split(samples, valid_frac, seed, str(path), "rows")
    meta = DatasetMeta("csv", random_rule(valid_frac, seed, "rows"), point_names=tuple(names),
                       flip_index=tuple(flip_index.tolist()))
    return Dataset(train, valid, meta)


def landmark_names(root: str | Path) -> list[str]:
    """The point names of a landmark tree (``flip.json``'s ``names``; load_landmarks checks them)."""
    path = Path(root).expanduser() / FLIP_FILE
    return list(json.loads(read_text(path, "flip permutation"))["names"])


register(Format("csv", "keypoints",
                lambda root, o: load_landmarks(root, o.valid_frac, o.seed, o.on_error, o.max_pixels),
                description="landmarks.csv (fname,x0,y0,...), images/, flip.json (names, flip_index)"))
