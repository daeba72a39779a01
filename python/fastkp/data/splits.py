"""Training/validation splits: by a flag the data gives, or at random with a seed.

Every reader that draws its split draws it here, as ``load_landmarks`` always has:
``round(valid_frac * n)`` samples chosen by ``numpy.random.default_rng(seed)``, both
splits keeping the input order, so one seed gives one split whatever the format.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from .sample import DatasetError, Sample

IS_VALID_RULE = "is_valid column"  # DatasetMeta.split of the tables that flag each row

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


def random_rule(valid_frac: float, seed: int, of: str) -> str:
    """The DatasetMeta.split of a random split of ``of`` (rows, faces, images)."""
    return f"random {valid_frac:g} of the {of}, seed {seed}"


def split(entries: list[Entry[T]], valid_frac: float, seed: int, source: str,
          unit: str = "samples") -> tuple[list[Entry[T]], list[Entry[T]]]:
    """(train, valid) by each entry's ``is_valid``, or where the data gives none, at random
    (see above). ``source`` (the CSV file or the folder) names the dataset in errors,
    ``unit`` what an entry is called there."""
    if not entries:
        raise DatasetError(f"{source}: no usable {unit}")
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
        raise DatasetError(f"{source}: empty validation split ({n} usable {unit} x {valid_frac})")
    if n_valid == n:
        raise DatasetError(f"{source}: empty training split ({n} usable {unit} x {valid_frac})")
    chosen = set(np.random.default_rng(seed).permutation(n)[:n_valid].tolist())
    return [e for i, e in enumerate(entries) if i not in chosen], [e for i, e in enumerate(entries) if i in chosen]


def random_split(samples: list[Sample], valid_frac: float, seed: int, source: str,
                 unit: str = "samples") -> tuple[list[Sample], list[Sample]]:
    """(train, valid) of ``samples`` drawn at random as ``split`` draws them."""
    entries = [Entry(s.path, s.size, s, source) for s in samples]
    train, valid = split(entries, valid_frac, seed, source, unit)
    return [e.target for e in train], [e.target for e in valid]
