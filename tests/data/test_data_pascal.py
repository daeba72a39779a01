"""PASCAL reader: vocabulary, multi-hot labels, is_valid split, bad input, garbage CSVs."""

from __future__ import annotations

import csv
import io
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from fastkp.data import DatasetError, load_pascal
from fastkp.data.synth import make_pascal
from fastkp.data.synth.pascal import CLASSES

N = 16


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_pascal(tmp_path_factory.mktemp("pascal") / "voc", N, seed=5, size=(90, 120))


@pytest.fixture
def copy(tree, tmp_path) -> Path:
    return Path(shutil.copytree(tree, tmp_path / "voc"))


def _rows(root: Path) -> list[dict[str, str]]:
    with open(root / "train.csv", newline="") as f:
        return list(csv.DictReader(f))


def _write_rows(root: Path, rows: list[list[str]], name: str = "train.csv") -> None:
    with open(root / name, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def test_vocab_split_and_multi_hot(tree):
    d = load_pascal(tree)
    train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    rows = _rows(tree)
    assert vocab == sorted({label for r in rows for label in r["labels"].split()})
    assert set(vocab) <= set(CLASSES)
    assert len(train) + len(valid) == N and len(valid) == sum(r["is_valid"] == "True" for r in rows)
    by_path = {s.path: s for s in train + valid}
    for r in rows:
        s = by_path[str(tree / "train" / r["fname"])]
        assert (s in valid) == (r["is_valid"] == "True")
        assert s.labels.dtype == np.float32 and s.labels.shape == (len(vocab),)
        assert [vocab[i] for i in np.flatnonzero(s.labels)] == sorted(r["labels"].split())
        assert set(np.unique(s.labels)) <= {0.0, 1.0}
        assert s.size == (90, 120) and s.keypoints is None


def test_tilde_is_the_home_folder(tree, monkeypatch):
    monkeypatch.setenv("HOME", str(tree.parent))
    d = load_pascal("~/voc")
    train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    d = load_pascal(tree)
    want_train, want_valid, want_vocab = d.train, d.valid, list(d.meta.vocab)
    assert [s.path for s in train + valid] == [s.path for s in want_train + want_valid]
    assert vocab == want_vocab


def test_full_vocabulary_order():
    # The generator's class list is VOC's, already sorted, so a complete set keeps that order.
    assert list(CLASSES) == sorted(CLASSES) and len(CLASSES) == 20


SPELLINGS = [("True", "False"), ("true", "false"), ("1", "0"), ("TRUE", " False ")]


@pytest.mark.parametrize("true, false", SPELLINGS)
def test_is_valid_spellings(copy, true, false):
    rows = _rows(copy)
    _write_rows(copy, [["fname", "labels", "is_valid"]] + [
        [r["fname"], r["labels"], true if r["is_valid"] == "True" else false] for r in rows
    ])  # fmt: skip
    d = load_pascal(copy)
    train, valid = d.train, d.valid
    assert len(valid) == sum(r["is_valid"] == "True" for r in rows) and len(train) + len(valid) == N


def test_custom_names_extra_columns_and_column_order(copy):
    (copy / "train").rename(copy / "images")
    rows = _rows(copy)
    _write_rows(copy, [["is_valid", "extra", "fname", "labels"]] + [
        [r["is_valid"], "x", r["fname"], r["labels"]] for r in rows
    ], name="labels.csv")  # fmt: skip
    d = load_pascal(copy, csv="labels.csv", folder="images")
    train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    assert len(train) + len(valid) == N and all("/images/" in s.path for s in train)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grayscale_and_cmyk_images_are_read(copy, mode):
    fname = _rows(copy)[0]["fname"]
    Image.new(mode, (120, 90)).save(copy / "train" / fname)
    d = load_pascal(copy)
    train, valid = d.train, d.valid
    assert len(train) + len(valid) == N


# ---- bad input ---------------------------------------------------------------------------------


def _edit_row(line: int, edit):
    def apply(root: Path) -> str:
        rows = list(csv.reader(open(root / "train.csv", newline="")))
        rows[line - 1] = edit(rows[line - 1])
        _write_rows(root, rows)
        return f"train.csv: line {line}"

    return apply


def _image(root: Path, data: bytes | None) -> str:
    path = root / "train" / _rows(root)[2]["fname"]
    path.unlink() if data is None else path.write_bytes(data)
    return path.name


BAD = {
    "unknown is_valid": _edit_row(3, lambda r: [r[0], r[1], "maybe"]),
    "empty is_valid": _edit_row(3, lambda r: [r[0], r[1], ""]),
    "missing field": _edit_row(3, lambda r: r[:2]),
    "extra field": _edit_row(3, lambda r: r + ["x"]),
    "empty fname": _edit_row(3, lambda r: ["", r[1], r[2]]),
    "missing image": lambda root: _image(root, None),
    "not an image": lambda root: _image(root, b"<html>not found</html>"),
    "cut header": lambda root: _image(root, (root / "train" / "000001.jpg").read_bytes()[:60]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_row_raises_naming_file_and_line(copy, case):
    name = BAD[case](copy)
    with pytest.raises(DatasetError) as info:
        load_pascal(copy)
    assert name in str(info.value)


@pytest.mark.parametrize("case", BAD)
def test_bad_row_is_skipped_with_one_log_line(copy, case, caplog):
    name = BAD[case](copy)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_pascal(copy, on_error="skip")
        train, valid = d.train, d.valid
    assert len(train) + len(valid) == N - 1
    [record] = caplog.records
    assert "skipped 1 bad sample" in record.getMessage() and name in record.getMessage()


@pytest.mark.parametrize(
    "header, match",
    [("fname,labels", "is_valid"), ("name,labels,is_valid", "fname"), ("", "empty file")],
)
def test_bad_header_raises_even_when_skipping(copy, header, match):
    (copy / "train.csv").write_text(header + ("\n" if header else ""))
    with pytest.raises(DatasetError, match=match) as info:
        load_pascal(copy, on_error="skip")
    assert "train.csv" in str(info.value)


def test_dataset_level_problems(copy):
    with pytest.raises(DatasetError, match="other.csv"):
        load_pascal(copy, csv="other.csv", on_error="skip")
    rows = _rows(copy)
    _write_rows(copy, [["fname", "labels", "is_valid"]])
    with pytest.raises(DatasetError, match="no usable rows"):
        load_pascal(copy, on_error="skip")
    _write_rows(copy, [["fname", "labels", "is_valid"]] + [[r["fname"], r["labels"], "False"] for r in rows])
    with pytest.raises(DatasetError, match="empty validation split"):
        load_pascal(copy)
    _write_rows(copy, [["fname", "labels", "is_valid"]] + [[r["fname"], r["labels"], "True"] for r in rows])
    with pytest.raises(DatasetError, match="empty training split"):
        load_pascal(copy)
    _write_rows(copy, [["fname", "labels", "is_valid"]] + [[r["fname"], "", r["is_valid"]] for r in rows])
    with pytest.raises(DatasetError, match="no labels"):
        load_pascal(copy)
    (copy / "train.csv").write_bytes(b"fname,labels,is_valid\n\xff\xfe,x,True\n")
    with pytest.raises(DatasetError, match="train.csv"):
        load_pascal(copy, on_error="skip")


def test_on_error_is_validated(tree):
    with pytest.raises(ValueError, match="on_error"):
        load_pascal(tree, on_error="warn")


# ---- garbage CSVs ------------------------------------------------------------------------------

field = st.one_of(
    st.sampled_from(["000001.jpg", "nope.jpg", "", "True", "False", "maybe", "0", "1", "cat dog"]),
    st.text(max_size=12),
)
fname = st.sampled_from(["000001.jpg", "000002.jpg", "000003.jpg", "nope.jpg", ""])
labels = st.one_of(st.sampled_from(["cat", "dog cat", "", " a  b "]), st.text(max_size=8))
is_valid = st.sampled_from(["True", "False", "true", "0", "1", "x", ""])
table = st.one_of(
    st.lists(st.lists(field, max_size=5), max_size=8),
    st.lists(st.tuples(fname, labels, is_valid).map(list), max_size=8),
)


def _to_csv(rows: list[list[str]], header: bool) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(([["fname", "labels", "is_valid"]] if header else []) + rows)
    return out.getvalue()


edits = st.lists(st.tuples(st.integers(0, N), st.integers(0, 3), field), max_size=3)


def _edited(tree: Path, changes: list[tuple[int, int, str]]) -> str:
    """The real CSV with a few fields replaced (column 3 appends a field)."""
    rows = list(csv.reader(open(tree / "train.csv", newline="")))
    for line, column, value in changes:
        if column < 3:
            rows[line][column] = value
        else:
            rows[line].append(value)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    garbage=st.one_of(st.text(max_size=300), st.builds(_to_csv, table, st.booleans())),
    changes=edits,
    mutate=st.booleans(),
    on_error=st.sampled_from(["raise", "skip"]),
)
def test_garbage_csv_raises_dataset_error_or_reads(tree, garbage, changes, mutate, on_error):
    text = _edited(tree, changes) if mutate else garbage
    (tree / "fuzz.csv").write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        d = load_pascal(tree, csv="fuzz.csv", on_error=on_error)
        train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    except DatasetError as err:
        event("DatasetError")
        assert "fuzz.csv" in str(err) or "train" in str(err)
    else:
        event("read")
        assert train and valid and vocab == sorted(set(vocab))
        for s in train + valid:
            assert s.labels.shape == (len(vocab),) and Path(s.path).is_file()
