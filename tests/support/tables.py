"""labels.csv, as the readers of value, age/gender and class tables read it: rows read and
written, edits that return what the reader's error must say, the raise-then-skip check,
and a tree's files as bytes (same seed, same bytes)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest

from fastkp.data import Dataset, DatasetError


def read_rows(root: Path) -> list[list[str]]:
    with open(root / "labels.csv", newline="") as f:
        return list(csv.reader(f))


def write_rows(root: Path, rows: list[list[str]]) -> None:
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)


def edit_field(line: int, column: int, value: str, detail: str = ""):
    """An edit of labels.csv setting one field; it returns what the error must say:
    ``labels.csv: line N`` and ``detail`` if given."""

    def apply(root: Path) -> str:
        rows = read_rows(root)
        rows[line - 1][column] = value
        write_rows(root, rows)
        return f"labels.csv: line {line}" + (f": {detail}" if detail else "")

    return apply


def append_row(make, detail: str = ""):
    """An edit of labels.csv appending the row ``make(rows)``; it returns what the error must say."""

    def apply(root: Path) -> str:
        rows = read_rows(root)
        write_rows(root, rows + [make(rows)])
        return f"labels.csv: line {len(rows) + 1}" + (f": {detail}" if detail else "")

    return apply


def raises_then_skips(load, root: Path, where: str, caplog) -> Dataset:
    """``load(root)`` raises DatasetError naming ``where``; with ``on_error="skip"`` it logs
    one line naming it and returns what it read."""
    with pytest.raises(DatasetError) as info:
        load(root)
    assert where in str(info.value)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        read = load(root, on_error="skip")
    [record] = caplog.records
    assert "skipped 1 bad sample" in record.getMessage() and where in record.getMessage()
    return read


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
