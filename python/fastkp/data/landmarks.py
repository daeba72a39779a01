"""Facial-landmark reader: K points per image with a horizontal-flip permutation.

Layout: ``root/landmarks.csv`` with the header ``fname,x0,y0,...,x{K-1},y{K-1}``
(an empty x,y pair = point not labelled, read as NaN), images in
``root/images/``, and ``root/flip.json`` = ``{"names": [K names], "flip_index":
[K ints]}`` where point ``i`` becomes point ``flip_index[i]`` under a
horizontal flip.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import numpy as np

from ._errors import Skipper
from ._keypoints import check_flip
from ._parse import image_name, parse_float, read_csv, read_text
from .images import read_header
from .sample import DatasetError, Sample, check_inside

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


def parse_flip(text: str, where: str, k: int) -> np.ndarray:
    """``flip_index`` (K,) int64 from flip.json, checked to be an involutive permutation."""
    try:
        spec = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise DatasetError(f"{where}: not valid JSON: {err}") from None
    if not isinstance(spec, dict) or set(spec) != {"names", "flip_index"}:
        raise DatasetError(f'{where}: expected an object with exactly the keys "names" and "flip_index"')
    names, flip = spec["names"], spec["flip_index"]
    if not isinstance(names, list) or len(names) != k or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{where}: field names must be a list of {k} strings (one per CSV point)")
    return check_flip(flip, k, where, "field flip_index")


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
    root: str | Path, valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise"
) -> tuple[list[Sample], list[Sample], np.ndarray]:
    """Read a landmark tree; returns (train, valid, flip_index).

    The usable rows are split at random: ``round(valid_frac * n)`` of them,
    chosen by ``numpy.random.default_rng(seed)``, form ``valid``; both splits
    keep the CSV order.
    """
    skipper = Skipper(on_error, f"load_landmarks({root})")
    if not (isinstance(valid_frac, numbers.Real) and 0 < valid_frac < 1):
        raise ValueError(f"valid_frac must be a number in (0, 1), got {valid_frac!r}")
    root = Path(root).expanduser()
    path = root / CSV_FILE
    rows = read_csv(path)
    if not rows:
        raise DatasetError(f"{path}: empty file, expected a header fname,x0,y0,...")
    k = parse_header(rows[0][1], f"{path}: line {rows[0][0]}")
    flip_path = root / FLIP_FILE
    flip_index = parse_flip(read_text(flip_path, "flip permutation"), str(flip_path), k)

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
            size = read_header(image).size
            check_inside(points, size, f"{where} ({image.name})")
            samples.append(Sample(str(image), size, keypoints=points))
        except DatasetError as err:
            skipper.bad(err)
    skipper.report()
    if not samples:
        raise DatasetError(f"{path}: no usable rows")

    n_valid = round(valid_frac * len(samples))
    if n_valid == 0:
        raise DatasetError(f"{path}: empty validation split ({len(samples)} usable rows x {valid_frac})")
    if n_valid == len(samples):
        raise DatasetError(f"{path}: empty training split ({len(samples)} usable rows x {valid_frac})")
    chosen = set(np.random.default_rng(seed).permutation(len(samples))[:n_valid].tolist())
    train = [s for i, s in enumerate(samples) if i not in chosen]
    valid = [s for i, s in enumerate(samples) if i in chosen]
    return train, valid, flip_index


def landmark_names(root: str | Path) -> list[str]:
    """The point names of a landmark tree (``flip.json``'s ``names``; load_landmarks checks them)."""
    path = Path(root).expanduser() / FLIP_FILE
    return list(json.loads(read_text(path, "flip permutation"))["names"])
