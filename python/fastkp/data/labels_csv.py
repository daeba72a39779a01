"""The layout the regression, agegender and classify readers share.

``ROOT/labels.csv`` has a header naming its columns (``fname``, the reader's own
columns, an optional ``is_valid``) and one row per image; the images are in
``ROOT/images/``. An ``is_valid`` column (True/False/1/0) gives the split; without
one, ``splits.split`` draws the validation rows at random.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TypeVar

from .images import read_header
from .on_error import Skipper
from .pascal import parse_is_valid
from .paths import image_name
from .sample import DatasetError
from .splits import IS_VALID_RULE, Entry, random_rule
from .textio import read_csv

CSV_FILE = "labels.csv"
IMAGES = "images"
IS_VALID = "is_valid"

T = TypeVar("T")


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

    def split_rule(self, valid_frac: float, seed: int) -> str:
        """The DatasetMeta.split of this table: its is_valid column, or a random draw."""
        return IS_VALID_RULE if IS_VALID in self.header else random_rule(valid_frac, seed, "rows")

    def entries(self, parse: Callable[[dict[str, str], str], T], skipper: Skipper,
                max_pixels: int | None = None) -> list[Entry[T]]:
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
                    size = read_header(image, max_pixels).size
                except DatasetError as err:  # it names the image; add the row that lists it
                    raise DatasetError(f"{where}: {err}") from None
                entries.append(Entry(str(image), size, target, where, is_valid))
            except DatasetError as err:
                skipper.bad(err)
        return entries
