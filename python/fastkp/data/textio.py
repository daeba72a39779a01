"""Strict reading of the text every format is made of: bounded file reads, UTF-8, strict
JSON, CSV rows and decimal numbers, each failure a DatasetError naming the file (and the
line or field where there is one)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import yaml

from .sample import DatasetError

MAX_BYTES = 2 << 30  # an annotation file larger than this is refused, not read

# A plain decimal number; NaN, inf, hex and underscores are all rejected.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NOT_NUMERIC = re.compile(r"[^0-9.eE+-]")
_NUMERIC = {int, float}


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


def read_text(path: Path, what: str) -> str:
    """Read a UTF-8 text file, turning a missing or undecodable file into DatasetError."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing {what}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read {what}: {err}") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"{token} is out of range for a double")
    return value


def load_json(data: bytes | str, where: str) -> object:
    """Strict JSON: NaN, Infinity and numbers beyond a double are refused; nesting is
    bounded by the interpreter's recursion limit (about 1000 levels), whose RecursionError
    becomes a DatasetError like any other fault."""
    text = decode(data, where) if isinstance(data, bytes) else data
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except ValueError as err:
        raise DatasetError(f"{where}: not valid JSON: {err}") from None
    except RecursionError:
        raise DatasetError(f"{where}: not valid JSON: arrays or objects nested too deeply") from None


def load_yaml(text: str, where: str) -> object:
    """``yaml.safe_load`` (no Python objects built), any YAML error a DatasetError naming ``where``."""
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as err:
        raise DatasetError(f"{where}: not valid YAML: {str(err).splitlines()[0] if str(err) else err!r}") from None


def all_numbers(values: list) -> bool:
    """Every item is a plain int or float (parsed JSON/YAML; bools and strings are not)."""
    return set(map(type, values)) <= _NUMERIC


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


def csv_rows(text: str, where: str) -> list[tuple[int, list[str]]]:
    """Rows of CSV text with their line numbers, blank rows dropped (as ``read_csv``)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        return [(reader.line_num, row) for row in reader if row]
    except csv.Error as err:
        raise DatasetError(f"{where}: line {reader.line_num}: cannot read CSV: {err}") from None


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
