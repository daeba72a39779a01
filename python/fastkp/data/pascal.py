"""PASCAL VOC 2007 multi-label reader, as the fastai book ships it.

``ROOT/train.csv`` has the columns ``fname,labels,is_valid`` (labels separated
by spaces, is_valid ``True``/``False``); the images are in ``ROOT/train/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetMeta
from .formats import Format, register
from .images import read_header
from .on_error import Skipper
from .paths import image_name
from .sample import DatasetError, Sample
from .splits import IS_VALID_RULE
from .textio import read_csv

COLUMNS = ("fname", "labels", "is_valid")
IS_VALID = {"true": True, "1": True, "false": False, "0": False}


def parse_is_valid(value: str, where: str) -> bool:
    """``True``/``False`` as pandas writes them; also any case of true/false, and 1/0."""
    try:
        return IS_VALID[value.strip().lower()]
    except KeyError:
        raise DatasetError(f"{where}: is_valid {value!r} is not one of True, False, 1, 0") from None


def load_pascal(
    root: str | Path, csv: str = "train.csv", folder: str = "train", on_error: str = "raise",
    max_pixels: int | None = None,
) -> Dataset:
    """Read ``root/csv`` and the headers of ``root/folder/*``, split by ``is_valid``.

    ``meta.vocab`` is the sorted set of all labels of the usable rows; ``Sample.labels``
    is the float32 multi-hot vector over it.
    """
    skipper = Skipper(on_error, f"load_pascal({root})")
    root = Path(root).expanduser()
    path = root / csv
    rows = read_csv(path)
    if not rows:
        raise DatasetError(f"{path}: empty file, expected a header {','.join(COLUMNS)}")
    header = [name.strip() for name in rows[0][1]]
    if missing := [c for c in COLUMNS if c not in header]:
        raise DatasetError(f"{path}: missing column(s) {missing} in header {header}")
    col = {c: header.index(c) for c in COLUMNS}

    kept: list[tuple[str, tuple[int, int], list[str], bool]] = []
    split_of: dict[str, tuple[bool, int]] = {}  # fname -> (is_valid, line) of its first row
    for line, row in rows[1:]:
        where = f"{path}: line {line}"
        try:
            if len(row) != len(header):
                raise DatasetError(f"{where}: {len(row)} fields, the header has {len(header)}")
            fname = image_name(row[col["fname"]], where)
            is_valid = parse_is_valid(row[col["is_valid"]], f"{where}: field is_valid")
            if fname in split_of and split_of[fname][0] != is_valid:
                raise DatasetError(f"{where}: {fname} is also on line {split_of[fname][1]}, in the other split")
            split_of.setdefault(fname, (is_valid, line))
            image = root / folder / fname
            kept.append((str(image), read_header(image, max_pixels).size, row[col["labels"]].split(), is_valid))
        except DatasetError as err:
            skipper.bad(err)
    skipper.report()
    if not kept:
        raise DatasetError(f"{path}: no usable rows")

    vocab = sorted({label for _, _, labels, _ in kept for label in labels})
    if not vocab:
        raise DatasetError(f"{path}: no labels in any usable row")
    index = {label: i for i, label in enumerate(vocab)}
    train: list[Sample] = []
    valid: list[Sample] = []
    for image, size, labels, is_valid in kept:
        hot = np.zeros(len(vocab), np.float32)
        hot[[index[label] for label in labels]] = 1.0
        (valid if is_valid else train).append(Sample(image, size, labels=hot))
    if not train:
        raise DatasetError(f"{path}: empty training split (every usable row has is_valid true)")
    if not valid:
        raise DatasetError(f"{path}: empty validation split (no usable row has is_valid true)")
    return Dataset(train, valid, DatasetMeta("default", IS_VALID_RULE, vocab=tuple(vocab)))


register(Format("default", "pascal", lambda root, o: load_pascal(root, on_error=o.on_error, max_pixels=o.max_pixels),
                description="PASCAL VOC 2007 as the fastai book ships it: train.csv (fname,labels,is_valid), train/"))
