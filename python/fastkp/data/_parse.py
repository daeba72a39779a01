"""Strict readers for the text formats: numbers (pose, calibration, CSV fields) and CSV rows."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

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
