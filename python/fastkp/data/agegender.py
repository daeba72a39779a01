"""Age and gender readers: UTKFace file names, or a ``fname,age,gender`` CSV.

``utkface``: every JPEG/PNG under ROOT (searched recursively, hidden names skipped) is
named ``{age}_{gender}_{race}_{date}.jpg`` as in UTKFace, or ``....jpg.chip.jpg`` as in
its aligned-and-cropped set, or ``{age}_{gender}_{date}...`` as a few real files that
lack the race field. Gender is 0 (male) or 1 (female). Any other image name is bad input.

``csv``: ``ROOT/labels.csv`` with the columns ``fname,age,gender`` and an optional
``is_valid`` (other columns are ignored); age a number >= 0, gender 0/1 or male/female
(any case); images in ``ROOT/images/``.

Samples carry ``values = [age]`` (float32, years) and ``labels = [gender]`` (1 = female).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import UsageError
from .dataset import Dataset, DatasetMeta
from .formats import Format, ReadOptions, formats_of, get, register
from .images import read_header
from .labels_csv import Table
from .on_error import Skipper
from .paths import inside, is_image_name, scan
from .sample import DatasetError, Sample
from .splits import Entry, check_valid_frac, random_rule, split
from .textio import parse_float

GENDERS = ("male", "female")  # index = the label: 1 is female
AGE_RANGE = (0.0, 120.0)  # years: what the readers accept and the age head's SigmoidRange covers
_NAME = re.compile(
    r"(?P<age>\d{1,3})_(?P<gender>\d+)_(?:(?P<race>\d+)_)?(?P<date>\d+)(?:\.jpe?g(?:\.chip\.jpg)?|\.png)",
    re.ASCII | re.IGNORECASE,
)
_GENDER = {"0": 0, "1": 1, "male": 0, "female": 1}


def parse_utkface_name(name: str, where: str) -> tuple[int, int]:
    """(age, gender) from a UTKFace file name; DatasetError names ``where`` otherwise."""
    match = _NAME.fullmatch(name)
    if not match:
        raise DatasetError(f"{where}: not a UTKFace name {{age}}_{{gender}}_{{race}}_{{date}}.jpg")
    gender = int(match["gender"])
    if gender not in (0, 1):
        raise DatasetError(f"{where}: gender {match['gender']} is not 0 (male) or 1 (female)")
    _check_age(int(match["age"]), match["age"], where)
    return int(match["age"]), gender


def _check_age(age: float, text: str, where: str) -> None:
    if not AGE_RANGE[0] <= age <= AGE_RANGE[1]:
        raise DatasetError(f"{where}: age {text!r} is outside {AGE_RANGE[0]:g}..{AGE_RANGE[1]:g} years")


def _images(root: Path, skipper: Skipper) -> list[Path]:
    """Every image name under ``root``, sorted; a folder reached twice (a link back to
    an ancestor) is listed once, and a linked folder that resolves outside ``root`` is a
    bad entry, not searched (as the other readers keep to their dataset folder)."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    real_root = os.path.realpath(root)
    folders = [root]
    while folders:
        folder = folders.pop()
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        subfolders, bad = scan(folder, lambda n: not n.startswith(".") and not is_image_name(n), "dir")
        files, bad_files = scan(folder, is_image_name, "file")
        for err in bad + bad_files:
            skipper.bad(err)
        found += [folder / name for name in files]
        for name in subfolders:
            if inside(real_root, os.path.realpath(folder / name)):
                folders.append(folder / name)
            else:
                skipper.bad(DatasetError(f"{folder / name}: a link to a folder outside the dataset folder {root}"))
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def _samples(entries: list[Entry[tuple[float, int]]]) -> list[Sample]:
    return [
        Sample(e.path, e.size, values=np.array([e.target[0]], np.float32), labels=np.array([e.target[1]], np.float32))
        for e in entries
    ]


def load_utkface(
    root: str | Path, valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise", max_pixels: int | None = None
) -> Dataset:
    """Read a folder of UTKFace-named images in sorted path order, split at random
    (``valid_frac``, ``seed``; ``fastkp.data.splits``)."""
    check_valid_frac(valid_frac)
    skipper = Skipper(on_error, f"load_utkface({root})")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    entries = []
    try:
        for path in _images(root, skipper):
            try:
                target = parse_utkface_name(path.name, str(path))
                entries.append(Entry(str(path), read_header(path, max_pixels).size, target, str(path)))
            except DatasetError as err:
                skipper.bad(err)
        train, valid = split(entries, valid_frac, seed, str(root))
    finally:
        skipper.report()
    return Dataset(_samples(train), _samples(valid), DatasetMeta("utkface", random_rule(valid_frac, seed, "images")))


def _age_gender(fields: dict[str, str], where: str) -> tuple[float, int]:
    age = parse_float(fields["age"], f"{where}: field age")
    _check_age(age, fields["age"].strip(), f"{where}: field age")
    gender = _GENDER.get(fields["gender"].strip().lower())
    if gender is None:
        raise DatasetError(f"{where}: field gender: {fields['gender']!r} is not one of 0, 1, male, female")
    return age, gender


def load_agegender_csv(
    root: str | Path, valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise", max_pixels: int | None = None
) -> Dataset:
    """Read ``ROOT/labels.csv`` (``fname,age,gender[,is_valid]``)."""
    check_valid_frac(valid_frac)
    skipper = Skipper(on_error, f"load_agegender_csv({root})")
    table = Table(root, ("fname", "age", "gender"))
    try:
        train, valid = split(table.entries(_age_gender, skipper, max_pixels), valid_frac, seed, str(table.path))
    finally:
        skipper.report()
    return Dataset(_samples(train), _samples(valid), DatasetMeta("csv", table.split_rule(valid_frac, seed)))


def load_agegender(
    root: str | Path, format: str = "utkface", valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise",
    max_pixels: int | None = None,
) -> Dataset:
    """``load_utkface`` (format "utkface", the default) or ``load_agegender_csv`` ("csv")."""
    known = formats_of("agegender")
    if format not in known:
        raise UsageError(f"agegender format must be one of {known}, got {format!r}", setting="format")
    return get("agegender", format).read(root, ReadOptions(on_error, max_pixels, valid_frac, seed))


register(Format("utkface", "agegender", lambda root, o: load_utkface(root, o.valid_frac, o.seed, o.on_error,
                                                                     o.max_pixels),
                description="UTKFace: images named {age}_{gender}_{race}_{date}.jpg, searched recursively"))
register(Format("csv", "agegender", lambda root, o: load_agegender_csv(root, o.valid_frac, o.seed, o.on_error,
                                                                       o.max_pixels),
                description="labels.csv (fname,age,gender[,is_valid]), images/"))
