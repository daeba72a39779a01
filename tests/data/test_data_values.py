"""Regression reader and the DIGITS linear-image generator: named value columns, the
default split or is_valid, bad rows raised or skipped, and the CLI subcommand."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastkp.data import DatasetError, load_landmarks, load_values
from fastkp.data.synth import make_regression
from fastkp.data.synth.__main__ import cli
from fastkp.data.synth.regression import linear_image
from support.tables import append_row, edit_field, files, raises_then_skips, read_rows, write_rows

N = 15


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_regression(tmp_path_factory.mktemp("reg") / "linear", N, seed=3, size=(24, 32))


@pytest.fixture
def copy(tree, tmp_path) -> Path:
    return Path(shutil.copytree(tree, tmp_path / "linear"))


def test_values_names_and_default_split(tree):
    d = load_values(tree)
    train, valid, names = d.train, d.valid, list(d.meta.value_names)
    assert names == ["gx", "gy"] and (len(train), len(valid)) == (N - 3, 3)
    rows = {r[0]: r[1:] for r in read_rows(tree)[1:]}
    for s in train + valid:
        assert s.values.dtype == np.float32 and s.size == (24, 32) and s.labels is None and s.label is None
        np.testing.assert_array_equal(s.values, np.float32(rows[Path(s.path).name]))
        assert all(-0.5 <= v < 0.5 for v in s.values)


def test_split_is_load_landmarks_split(tree, tmp_path):
    """Without is_valid the rows split as load_landmarks splits the same number of rows."""
    lm = tmp_path / "lm"
    (lm / "images").mkdir(parents=True)
    for name in sorted((tree / "images").iterdir()):
        (lm / "images" / name.name).symlink_to(name)
    lines = ["fname,x0,y0"] + [f"{r[0]},1,1" for r in read_rows(tree)[1:]]
    (lm / "landmarks.csv").write_text("\n".join(lines) + "\n")
    (lm / "flip.json").write_text('{"names": ["a"], "flip_index": [0]}')
    for seed, frac in ((0, 0.2), (5, 0.4)):
        want = load_landmarks(lm, valid_frac=frac, seed=seed).valid
        got = load_values(tree, valid_frac=frac, seed=seed).valid
        assert [Path(s.path).name for s in got] == [Path(s.path).name for s in want]


def test_images_are_the_digits_linear_images(tree):
    for s in load_values(tree).train[:3]:
        with Image.open(s.path) as im:
            assert im.mode == "L"
            np.testing.assert_array_equal(np.asarray(im), linear_image(*s.values.astype(float), (24, 32)))
    image = linear_image(0.5, -0.25, (10, 10)).astype(float)
    assert np.allclose(np.diff(image, axis=1).mean(), 0.5 * 25.5, atol=0.2)
    assert np.allclose(np.diff(image, axis=0).mean(), -0.25 * 25.5, atol=0.2)


def test_same_seed_same_bytes(tmp_path):
    a, b, c = (files(make_regression(tmp_path / n, 4, seed=s, size=(16, 16)))
               for n, s in (("a", 1), ("b", 1), ("c", 2)))  # fmt: skip
    assert a == b and a != c


def test_is_valid_extra_names_and_tilde(copy, monkeypatch):
    rows = read_rows(copy)
    write_rows(copy, [["is_valid", "fname", "a b", "c"]] + [
        ["1" if i % 3 == 0 else "false", r[0], r[1], "-1e3"] for i, r in enumerate(rows[1:])])  # fmt: skip
    monkeypatch.setenv("HOME", str(copy.parent))
    d = load_values("~/linear")
    train, valid, names = d.train, d.valid, list(d.meta.value_names)
    assert names == ["a b", "c"] and (len(train), len(valid)) == (10, 5)
    assert valid[0].values[1] == -1000 and str(copy) in valid[0].path


# ---- bad input ---------------------------------------------------------------------------------


BAD = {
    "missing value": edit_field(3, 1, ""),
    "blank value": edit_field(3, 2, "  "),
    "not a number": edit_field(4, 1, "abc"),
    "nan": edit_field(4, 2, "nan"),
    "too big for float32": edit_field(5, 1, "1e39"),
    "listed twice": append_row(lambda rows: rows[1]),
    "absolute path": edit_field(6, 0, "/etc/passwd"),
    "climbs out": edit_field(6, 0, "../x.png"),
    "missing image": edit_field(6, 0, "nope.png"),
    "short row": append_row(lambda rows: ["00001.png", "0.1"]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_row_raises_or_is_skipped_naming_file_and_line(copy, case, caplog):
    d = raises_then_skips(load_values, copy, BAD[case](copy), caplog)
    train, valid = d.train, d.valid
    assert len(train) + len(valid) == N - (case not in ("listed twice", "short row"))


def test_bad_number_names_the_field(copy):
    edit_field(3, 2, "x")(copy)
    with pytest.raises(DatasetError, match=r"line 3: field gy: 'x' is not a number"):
        load_values(copy)
    edit_field(3, 2, "")(copy)
    with pytest.raises(DatasetError, match=r"line 3: field gy: missing value"):
        load_values(copy)


def test_file_in_both_splits(copy):
    rows = [r + ["False"] for r in read_rows(copy)]
    rows[0][-1] = "is_valid"
    rows.append(rows[1][:-1] + ["True"])
    write_rows(copy, rows)
    with pytest.raises(DatasetError, match=rf"line {len(rows)}: 00001.png is also on line 2, in the other split"):
        load_values(copy)


@pytest.mark.parametrize("header, match", [
    ("fname", "no value columns"), ("fname,is_valid", "no value columns"), ("name,gx", "missing column"),
    ("fname,gx,gx", "more than once"), ("fname,,gy", "column 2 of the header has no name"), ("", "empty file"),
])  # fmt: skip
def test_bad_header_raises_even_when_skipping(copy, header, match):
    (copy / "labels.csv").write_text(header + "\n" if header else "")
    with pytest.raises(DatasetError, match=match) as info:
        load_values(copy, on_error="skip")
    assert "labels.csv" in str(info.value)


def test_dataset_level_problems(copy, tmp_path):
    rows = read_rows(copy)
    write_rows(copy, rows[:2])
    with pytest.raises(DatasetError, match=r"empty validation split \(1 usable samples"):
        load_values(copy)
    write_rows(copy, [rows[0]] + [[r[0], "x", "y"] for r in rows[1:]])
    with pytest.raises(DatasetError, match="no usable samples"):
        load_values(copy, on_error="skip")
    with pytest.raises(DatasetError, match="missing CSV"):
        load_values(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="valid_frac"):
        load_values(copy, valid_frac=1.0)
    with pytest.raises(ValueError, match="on_error"):
        load_values(copy, on_error="warn")


def test_pixel_limit_is_checked_from_the_header(tree, monkeypatch):
    monkeypatch.setenv("FASTKP_MAX_PIXELS", "500")  # the images are 24x32 = 768 pixels
    with pytest.raises(DatasetError, match=r"labels.csv: line 2: .*00001.png: 32x24 is 768 pixels, more than"):
        load_values(tree)


def test_cli_subcommand(tmp_path):
    assert cli(["regression", str(tmp_path / "cli"), "--n", "3", "--size", "16x20", "--seed", "2"]) == 0
    assert files(tmp_path / "cli") == files(make_regression(tmp_path / "api", 3, seed=2, size=(16, 20)))
