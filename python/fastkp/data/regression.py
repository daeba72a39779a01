"""Regression reader: a vector of named floats per image (DIGITS image regression).

Layout: ``ROOT/labels.csv`` with the header ``fname,NAME0,NAME1,...`` and an optional
``is_valid`` column; every other column is one output, named by its header, in header
order. Values are finite decimal numbers (float32 range); images are in
``ROOT/images/``. ``python -m fastkp.data.digits`` writes this layout from a DIGITS
LMDB pair.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetMeta
from .formats import Format, register
from .labels_csv import IS_VALID, Table
from .on_error import Skipper
from .sample import DatasetError, Sample
from .splits import check_valid_frac, split
from .textio import parse_float


def parse_value(text: str, where: str) -> float:
    """One regression target: a finite decimal number that fits a float32."""
    if not text.strip():
        raise DatasetError(f"{where}: missing value")
    value = parse_float(text, where)
    with np.errstate(over="ignore"):
        fits = bool(np.isfinite(np.float32(value)))
    if not fits:
        raise DatasetError(f"{where}: {text.strip()!r} is out of the float32 range")
    return value


def load_values(
    root: str | Path, valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise", max_pixels: int | None = None
) -> Dataset:
    """Read a regression set.

    ``meta.value_names`` are the value columns in header order; ``Sample.values`` is the
    float32 vector over them. Without ``is_valid`` the rows are split as ``load_landmarks``
    splits them (``valid_frac``, ``seed``). Bad rows (missing or non-numeric values,
    an image listed twice or in both splits, unreadable images) raise DatasetError
    naming the file and line, or are skipped and counted with ``on_error="skip"``.
    """
    check_valid_frac(valid_frac)
    skipper = Skipper(on_error, f"load_values({root})")
    table = Table(root, ("fname",))
    names = [c for c in table.header if c not in ("fname", IS_VALID)]
    if not names:
        raise DatasetError(f"{table.path}: no value columns; expected a header fname,NAME0,NAME1,...")

    def parse(fields: dict[str, str], where: str) -> np.ndarray:
        return np.array([parse_value(fields[n], f"{where}: field {n}") for n in names], np.float32)

    try:
        train, valid = split(table.entries(parse, skipper, max_pixels), valid_frac, seed, str(table.path))
    finally:
        skipper.report()
    return Dataset([Sample(e.path, e.size, values=e.target) for e in train],
                   [Sample(e.path, e.size, values=e.target) for e in valid],
                   DatasetMeta("default", table.split_rule(valid_frac, seed), value_names=tuple(names)))


register(Format("default", "values", lambda root, o: load_values(root, o.valid_frac, o.seed, o.on_error, o.max_pixels),
                description="labels.csv (fname,NAME0,NAME1,...[,is_valid]), images/"))
