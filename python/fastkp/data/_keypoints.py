"""What the keypoint-format readers (300W, COCO, DeepLabCut, YOLO-pose) share: bounded
file reads, strict JSON, flip permutations from point names, boxes around points, one
header read per image, and the sample they all build."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ._csv_layout import Entry, split
from ._errors import Skipper
from ._parse import parse_float
from .images import read_header
from .sample import DatasetError, Sample, check_inside

MAX_BYTES = 2 << 30  # an annotation file larger than this is refused, not read
MARGIN = 0.125  # box from points: each side moves out by this share of the points' larger extent ...
MIN_PAD = 0.02  # ... and by at least this share of the image's smaller side
VISIBILITY = (0, 1, 2)  # unlabelled, labelled but occluded, visible (COCO's v)

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")  # snake_case, CamelCase, ALLCAPS words
_SIDES = {"left": "right", "right": "left"}
_NUMERIC = {int, float}
_NOT_NUMERIC = re.compile(r"[^0-9.eE+-]")


def read_bounded(path: Path | str, what: str, limit: int = MAX_BYTES) -> bytes:
    """The bytes of ``path``; a missing, unreadable or over-``limit`` file is a DatasetError."""
    try:
        # not open(): its file objects cost as much as reading a small file (O_BINARY: Windows)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):  # os.open, unlike open(), opens a folder
                raise IsADirectoryError
            size = st.st_size
            if size > limit:
                raise DatasetError(f"{path}: {what} of {size:,} bytes is over the limit of {limit:,}")
            data = _read(fd, size + 1)
            if len(data) > size:  # it grows as we read
                data += _read(fd, limit + 1 - len(data))
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing {what}") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: {what} is a folder, not a file") from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot read {what} ({err.strerror})") from None
    if len(data) > limit:  # grew while we read it
        raise DatasetError(f"{path}: {what} is over the limit of {limit:,} bytes")
    return data


def _read(fd: int, n: int) -> bytes:
    """Up to ``n`` bytes of ``fd``, fewer only at its end (one os.read may return less)."""
    parts = []
    while n > 0 and (part := os.read(fd, min(n, 1 << 30))):
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def decode(data: bytes, where: str) -> str:
    """UTF-8 text (a BOM is dropped); anything else is a DatasetError."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{where}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def parse_floats(tokens: Sequence[str], where: Callable[[int], str]) -> np.ndarray:
    """float64 array of ``tokens``, each read as ``parse_float`` reads it (``where(i)`` names
    token i in the error); the common all-good case is checked in bulk."""
    values = bulk_floats(tokens)
    if values is not None and np.isfinite(values).all():
        return values
    return np.array([parse_float(t, where(i)) for i, t in enumerate(tokens)], np.float64)


def bulk_floats(tokens: Sequence[str]) -> np.ndarray | None:
    """float64 array of ``tokens`` if each is a plain decimal number (as ``parse_float``
    reads them, though maybe out of range), else None. Made of digits, '.', 'e' and signs
    only, a token is a number exactly when float() takes it."""
    if _NOT_NUMERIC.search("".join(tokens)):
        return None
    try:
        return np.array(tokens, np.float64)
    except ValueError:
        return None


def csv_rows(text: str, where: str) -> list[tuple[int, list[str]]]:
    """Rows of CSV text with their line numbers, blank rows dropped (as ``read_csv``)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        return [(reader.line_num, row) for row in reader if row]
    except csv.Error as err:
        raise DatasetError(f"{where}: line {reader.line_num}: cannot read CSV: {err}") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def load_json(data: bytes | str, where: str) -> object:
    """Strict JSON: NaN and Infinity are refused, deep nesting is a DatasetError."""
    text = decode(data, where) if isinstance(data, bytes) else data
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise DatasetError(f"{where}: not valid JSON: {err}") from None


def all_numbers(values: list) -> bool:
    """Every item is a plain int or float (parsed JSON/YAML; bools and strings are not)."""
    return set(map(type, values)) <= _NUMERIC


def check_flip(flip: object, k: int, where: str, name: str = "flip index") -> np.ndarray:
    """A flip list (``name`` in messages): a permutation of 0..K-1 of plain ints that is its
    own inverse; (K,) int64. Every reader with a flip permutation checks it here."""
    if (
        not isinstance(flip, list)
        or len(flip) != k
        or not all(type(i) is int for i in flip)
        or sorted(flip) != list(range(k))
    ):
        shown = flip if not isinstance(flip, list) or len(flip) <= 40 else f"{flip[:40]}..."
        raise DatasetError(f"{where}: {name} must be a permutation of 0..{k - 1}, got {shown}")
    if bad := [i for i in range(k) if flip[flip[i]] != i]:
        raise DatasetError(
            f"{where}: {name} is not its own inverse (point {bad[0]} -> {flip[bad[0]]} "
            f"-> {flip[flip[bad[0]]]}); a flip must swap pairs or keep points"
        )
    return np.array(flip, np.int64)


def _same_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    return word.capitalize() if like[0].isupper() else word


def mirror_name(name: str) -> str:
    """``name`` with each word ``left`` and ``right`` swapped, any case, in snake_case,
    CamelCase or ALLCAPS (``left_ear`` -> ``right_ear``, ``LeftPaw`` -> ``RightPaw``);
    ``leftear`` or ``earL`` have no such word and stay as they are."""
    out, last = [], 0
    for m in _WORD.finditer(name):
        other = _SIDES.get(m.group().lower())
        if other:
            out += [name[last : m.start()], _same_case(other, m.group())]
            last = m.end()
    return "".join(out) + name[last:]


def flip_from_names(names: Sequence[str], where: str, hint: str = "") -> np.ndarray:
    """(K,) int64: each point's mirror under a horizontal flip by its name (``mirror_name``);
    a point whose name has no side maps to itself, a sided one without its partner is an
    error (``hint`` says how to give the permutation instead)."""
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in index:
            raise DatasetError(f"{where}: point name {name!r} is given twice (points {index[name]} and {i})")
        index[name] = i
    flip = []
    for i, name in enumerate(names):
        other = mirror_name(name)
        if other not in index:
            raise DatasetError(f"{where}: point {i} {name!r} has no mirror point {other!r}{hint}")
        flip.append(index[other])
    return np.array(flip, np.int64)


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
    box: np.ndarray | None, where: str,
) -> Sample:
    """The Sample the keypoint readers return: points NaN where ``visibility`` is 0, labelled
    points checked not to be far outside the image (points outside it are kept), the box
    (``points_box`` when None) as float32."""
    points = np.asarray(points, np.float32).copy()
    visibility = np.asarray(visibility, np.int8)
    points[visibility == 0] = np.nan
    check_inside(points, size, where)
    if box is None:
        box = points_box(points, size)
    return Sample(str(path), size, keypoints=points, box=np.asarray(box, np.float32), visibility=visibility)


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
    """``read_header(path).size`` once per image, errors included: many objects in one
    image cost one header read."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, int] | DatasetError] = {}

    def size(self, path: Path | str) -> tuple[int, int]:
        key = str(path)
        hit = self._seen.get(key)
        if hit is None:
            try:
                hit = read_header(key).size
            except DatasetError as err:
                hit = err
            self._seen[key] = hit
        if isinstance(hit, DatasetError):
            raise DatasetError(str(hit))
        return hit


def random_split(samples: list[Sample], valid_frac: float, seed: int, source: str) -> tuple[list[Sample], list[Sample]]:
    """(train, valid) as ``load_landmarks`` splits: ``round(valid_frac * n)`` samples chosen
    by ``numpy.random.default_rng(seed)``; both keep the input order."""
    entries = [Entry(s.path, s.size, s, source) for s in samples]
    train, valid = split(entries, valid_frac, seed, source)
    return [e.target for e in train], [e.target for e in valid]


def inside(root: Path | str, path: Path | str) -> bool:
    """Whether ``path`` is ``root`` or below it, lexically (``..`` resolved, links not
    followed: a linked folder inside the tree may point elsewhere, as a linked image may)."""
    base, target = os.path.normpath(os.path.abspath(root)), os.path.normpath(os.path.abspath(path))
    return target == base or target.startswith(base.rstrip(os.sep) + os.sep)
