"""The layout the regression, agegender and classify readers share, and their split.

``ROOT/labels.csv`` has a header naming its columns (``fname``, the reader's own
columns, an optional ``is_valid``) and one row per image; the images are in
``ROOT/images/``. An ``is_valid`` column (True/False/1/0) gives the split; without
one, ``split`` draws the validation rows at random exactly as ``load_landmarks`` does.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Generic, TypeVar

import numpy as np

from ._errors import Skipper
from ._parse import image_name, read_csv
from .images import read_header
from .pascal import parse_is_valid
from .sample import DatasetError

CSV_FILE = "labels.csv"
IMAGES = "images"
IS_VALID = "is_valid"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    """One usable image: its path, displayed (height, width), parsed target, where it was
    listed (file and line, or the file itself) and its split where the data gives one."""

    path: str
    size: tuple[int, int]
    target: T
    where: str
    is_valid: bool | None = None


def check_valid_frac(valid_frac: float) -> None:
    if not (isinstance(valid_frac, numbers.Real) and 0 < valid_frac < 1):
        raise ValueError(f"valid_frac must be a number in (0, 1), got {valid_frac!r}")


def is_image_name(name: str) -> bool:
    """A JPEG or PNG by its suffix (any case), not a hidden file."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


class Table:
    """``root/labels.csv`` with its header checked: no empty or repeated column names,
    every ``required`` column present (other columns are kept in ``header``)."""

    def __init__(self, root: str | Path, required: Sequence[str]) -> None:
        self.root = Path(root).expanduser()
        self.path = self.root / CSV_FILE
        rows = read_csv(self.path)
        if not rows:
            raise DatasetError(f"{self.path}: empty file, expected a header {','.join(required)}")
        line, header = rows[0]
        where = f"{self.path}: line {line}"
        self.header = [name.strip() for name in header]
        if "" in self.header:
            raise DatasetError(f"{where}: column {self.header.index('') + 1} of the header has no name")
        if repeated := sorted({c for c in self.header if self.header.count(c) > 1}):
            raise DatasetError(f"{where}: column(s) {repeated} appear more than once in the header")
        if missing := [c for c in required if c not in self.header]:
            raise DatasetError(f"{where}: missing column(s) {missing} in header {self.header}")
        self.rows = rows[1:]

    def entries(self, parse: Callable[[dict[str, str], str], T], skipper: Skipper) -> list[Entry[T]]:
        """The usable rows: ``parse(fields by column, "file: line N")`` gives each target and
        raises DatasetError for a bad one; a bad row goes to ``skipper``. An image listed
        twice is bad (its second row), and so is a row in the other split than the first."""
        entries: list[Entry[T]] = []
        first: dict[str, tuple[int, bool | None]] = {}  # fname -> line, is_valid of its first row
        for line, row in self.rows:
            where = f"{self.path}: line {line}"
            try:
                if len(row) != len(self.header):
                    raise DatasetError(f"{where}: {len(row)} fields, the header has {len(self.header)}")
                fields = dict(zip(self.header, row))
                fname = image_name(fields["fname"], where)
                is_valid = parse_is_valid(fields[IS_VALID], f"{where}: field is_valid") if IS_VALID in fields else None
                key = str(PurePosixPath(fname.replace("\\", "/")))  # a.png and ./a.png are one file
                if key in first:
                    other, other_valid = first[key]
                    side = ", in the other split" if other_valid != is_valid else ""
                    raise DatasetError(f"{where}: {fname} is also on line {other}{side}")
                first[key] = (line, is_valid)
                target = parse(fields, where)
                image = self.root / IMAGES / fname
                try:
                    size = read_header(image).size
                except DatasetError as err:  # it names the image; add the row that lists it
                    raise DatasetError(f"{where}: {err}") from None
                entries.append(Entry(str(image), size, target, where, is_valid))
            except DatasetError as err:
                skipper.bad(err)
        return entries


def split(entries: list[Entry[T]], valid_frac: float, seed: int, source: str) -> tuple[list[Entry[T]], list[Entry[T]]]:
    """(train, valid) by each entry's ``is_valid``, or where the data gives none, as
    ``load_landmarks``: ``round(valid_frac * n)`` entries chosen by
    ``numpy.random.default_rng(seed)`` form ``valid``; both keep the input order.
    ``source`` (the CSV file or the folder) names the dataset in errors."""
    if not entries:
        raise DatasetError(f"{source}: no usable samples")
    n = len(entries)
    if entries[0].is_valid is not None:
        train = [e for e in entries if not e.is_valid]
        valid = [e for e in entries if e.is_valid]
        if not train:
            raise DatasetError(f"{source}: empty training split (every usable row has is_valid true)")
        if not valid:
            raise DatasetError(f"{source}: empty validation split (no usable row has is_valid true)")
        return train, valid
    n_valid = round(valid_frac * n)
    if n_valid == 0:
        raise DatasetError(f"{source}: empty validation split ({n} usable samples x {valid_frac})")
    if n_valid == n:
        raise DatasetError(f"{source}: empty training split ({n} usable samples x {valid_frac})")
    chosen = set(np.random.default_rng(seed).permutation(n)[:n_valid].tolist())
    return [e for i, e in enumerate(entries) if i not in chosen], [e for i, e in enumerate(entries) if i in chosen]
