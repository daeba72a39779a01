"""Age and gender readers: UTKFace names searched recursively, the fname,age,gender CSV,
bad names and rows raised or skipped, and the agegender generator."""

from __future__ import annotations

import csv
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fastkp.data import DatasetError, load_agegender, load_agegender_csv, load_utkface
from fastkp.data.agegender import parse_utkface_name
from fastkp.data.synth import make_agegender
from fastkp.data.synth.__main__ import cli
from fastkp.errors import UsageError
from support.tables import append_row, edit_field, files, raises_then_skips, read_rows, write_rows

N = 10


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ag")
    return {f: make_agegender(base / f, N, seed=4, size=(40, 40), format=f) for f in ("utkface", "csv")}


@pytest.fixture
def copies(made, tmp_path) -> dict[str, Path]:
    """Function-scoped copies of both formats, for the tests that damage them."""
    return {f: Path(shutil.copytree(root, tmp_path / f)) for f, root in made.items()}


def _targets(samples) -> list[tuple[float, float]]:
    return [(float(s.values[0]), float(s.labels[0])) for s in samples]


def test_names_give_age_and_gender(made):
    d = load_utkface(made["utkface"])
    train, valid = d.train, d.valid
    assert (len(train), len(valid)) == (N - 2, 2)
    for s in train + valid:
        age, gender, race, date = Path(s.path).name.split(".")[0].split("_")
        assert s.path.endswith(".jpg.chip.jpg") and len(date) == 17 and race in "01234"
        assert s.values.dtype == np.float32 and s.labels.dtype == np.float32 and s.size == (40, 40)
        assert _targets([s]) == [(float(age), float(gender))] and 1 <= int(age) <= 90


def test_csv_format_reads_the_same_targets(made):
    with open(made["csv"] / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["gender"] for r in rows} <= {"male", "female"}
    d = load_agegender(made["csv"], format="csv")
    train, valid = d.train, d.valid
    by_name = {Path(s.path).name: s for s in train + valid}
    assert _targets(by_name[r["fname"]] for r in rows) == [(float(r["age"]), float(r["gender"] == "female"))
                                                           for r in rows]  # fmt: skip


@pytest.mark.parametrize("name, want", [
    ("25_1_3_20170119171426871.jpg", (25, 1)),
    ("1_0_0_20161219140623097.jpg.chip.jpg", (1, 0)),
    ("39_1_20170116174525125.jpg.chip.jpg", (39, 1)),  # one of the real files without race
    ("116_0_2_20170112213001988.JPG", (116, 0)),
])  # fmt: skip
def test_utkface_name_variants(name, want):
    assert parse_utkface_name(name, name) == want


def test_search_is_recursive_and_ignores_other_files(copies, monkeypatch):
    faces = copies["utkface"]
    names = sorted(p.name for p in faces.iterdir())
    (faces / "part1" / "deeper").mkdir(parents=True)
    for name in names[:3]:
        (faces / name).rename(faces / "part1" / "deeper" / name)
    (faces / "part1" / "landmark_list.txt").write_text("not an image")
    (faces / ".hidden.jpg").write_text("skipped")
    (faces / ".cache").mkdir()
    (faces / ".cache" / "1_0_0_1.jpg").write_text("skipped")
    os.symlink("..", faces / "part1" / "up")  # a link back to an ancestor is followed once
    monkeypatch.setenv("HOME", str(faces.parent))
    d = load_agegender("~/utkface")
    train, valid = d.train, d.valid
    assert sorted(Path(s.path).name for s in train + valid) == names


BAD_NAMES = ["face.jpg", "30_2_0_20170119171426871.jpg", "30_1.jpg", "x_1_0_2017.jpg", "30_1_0_2017.jpg.bak.jpg"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_name_raises_or_is_skipped(copies, name, caplog):
    faces = copies["utkface"]
    shutil.copy(next(faces.iterdir()), faces / name)
    with pytest.raises(DatasetError, match=name.replace(".", r"\.")):
        load_utkface(faces)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_utkface(faces, on_error="skip")
        train, valid = d.train, d.valid
    assert len(train) + len(valid) == N and "skipped 1 bad sample" in caplog.text and name in caplog.text


def test_unreadable_entries_and_images(copies):
    faces = copies["utkface"]
    os.symlink("loop.jpg", faces / "loop.jpg")
    (faces / "3_0_0_20170119171426871.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="loop.jpg: cannot be examined"):
        load_utkface(faces)
    d = load_utkface(faces, on_error="skip")
    train, valid = d.train, d.valid
    assert len(train) + len(valid) == N


def test_folder_level_problems(tmp_path):
    with pytest.raises(DatasetError, match="not a directory"):
        load_utkface(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no usable samples"):
        load_utkface(tmp_path)
    with pytest.raises(UsageError, match="agegender format"):
        load_agegender(tmp_path, format="fairface")
    with pytest.raises(ValueError, match="valid_frac"):
        load_utkface(tmp_path, valid_frac=0)


# ---- CSV rows ----------------------------------------------------------------------------------


def test_gender_spellings_and_is_valid(copies):
    table = copies["csv"]
    rows = read_rows(table)
    spellings = {"male": ["0", "Male", " MALE "], "female": ["1", "Female", "fEmAlE"]}
    write_rows(table, [["fname", "gender", "age", "is_valid"]] + [
        [r[0], spellings[r[2]][i % 3], r[1], str(i < 3)] for i, r in enumerate(rows[1:])])  # fmt: skip
    d = load_agegender_csv(table)
    train, valid = d.train, d.valid
    assert [Path(s.path).name for s in valid] == [r[0] for r in rows[1:4]] and len(train) == N - 3
    assert _targets(valid) == [(float(r[1]), float(r[2] == "female")) for r in rows[1:4]]


BAD_ROWS = {
    "missing age": edit_field(2, 1, ""),
    "age not a number": edit_field(3, 1, "thirty"),
    "negative age": edit_field(3, 1, "-1"),
    "age past 120": edit_field(3, 1, "121"),
    "age overflowing float32": edit_field(3, 1, "1e39"),
    "bad gender": edit_field(4, 2, "f"),
    "missing gender": edit_field(4, 2, ""),
    "listed twice": append_row(lambda rows: rows[1], "00001.jpg is also on line 2"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_row_raises_or_is_skipped(copies, case, caplog):
    table = copies["csv"]
    d = raises_then_skips(load_agegender_csv, table, BAD_ROWS[case](table), caplog)
    train, valid = d.train, d.valid
    assert len(train) + len(valid) == N - (case != "listed twice")


def test_same_seed_same_bytes_and_cli(tmp_path):
    for format in ("utkface", "csv"):
        a, b, c = (files(make_agegender(tmp_path / f"{format}{n}", 3, seed=s, size=(24, 24), format=format))
                   for n, s in (("a", 1), ("b", 1), ("c", 2)))  # fmt: skip
        assert a == b and a != c
    args = ["--n", "3", "--size", "24x24", "--seed", "1", "--format", "csv"]
    assert cli(["agegender", str(tmp_path / "cli"), *args]) == 0
    assert files(tmp_path / "cli") == files(tmp_path / "csva")
