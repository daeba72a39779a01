"""Strict readers for the text formats: numbers (pose, calibration, CSV fields) and CSV rows."""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath

from .sample import DatasetError

# A plain decimal number; NaN, inf, hex and underscores are all rejected.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def parse_float(token: str, where: str) -> float:
    """Parse one finite decimal number; ``where`` names the file/line/field."""
    token = token.strip()
    if not _NUMBER.fullmatch(token):
        raise DatasetError(f"{where}: {token!r} is not a number")
    value = float(token)
    if not math.isfinite(value):
        raise DatasetError(f"{where}: {token!r} is out of range")
    return value


def parse_rows(text: str, where: str) -> list[list[float]]:
    """Whitespace-separated numbers, one list per non-blank line."""
    return [
        [parse_float(tok, f"{where}: line {n}") for tok in line.split()]
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]


def read_text(path: Path, what: str) -> str:
    """Read a UTF-8 text file, turning a missing or undecodable file into DatasetError."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing {what}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read {what}: {err}") from None


def read_csv(path: Path) -> list[tuple[int, list[str]]]:
    """Rows of a UTF-8 CSV file with their line numbers, header first, blank rows dropped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, strict=True)
            return [(reader.line_num, row) for row in reader if row]
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing CSV file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DatasetError(f"{path}: cannot read CSV: {err}") from None


def image_name(fname: str, where: str) -> str:
    """A CSV file name, checked lexically to stay inside the image folder: not empty, not
    absolute, no ``..`` (a symlinked image pointing elsewhere is still allowed)."""
    name = fname.strip()
    if not name:
        raise DatasetError(f"{where}: empty fname")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or name.startswith("\\"):
        raise DatasetError(f"{where}: fname {name!r} is an absolute path; give it relative to the image folder")
    if ".." in name.replace("\\", "/").split("/"):
        raise DatasetError(f"{where}: fname {name!r} climbs out of the image folder with '..'")
    return name


def scan(folder: Path, wanted: Callable[[str], bool], kind: str) -> tuple[list[str], list[DatasetError]]:
    """The sorted names in ``folder`` that ``wanted`` selects and that are a ``kind``
    ("dir" or "file", links followed), and one error per selected entry that cannot be
    examined (a symbolic-link loop, no permission); other entries are never touched."""
    try:
        entries = list(os.scandir(folder))
    except OSError as err:
        raise DatasetError(f"{folder}: cannot list the folder ({err.strerror})") from None
    names, bad = [], []
    for entry in entries:
        if not wanted(entry.name):
            continue
        try:
            if entry.is_dir() if kind == "dir" else entry.is_file():
                names.append(entry.name)
        except OSError as err:
            bad.append(DatasetError(f"{folder / entry.name}: cannot be examined ({err.strerror})"))
    return sorted(names), bad
