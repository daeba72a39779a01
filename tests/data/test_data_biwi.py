"""Biwi reader on generated trees: exact centres per folder's intrinsics, splits, bad input."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastkp.data import DatasetError, load_biwi
from fastkp.data.biwi import parse_cal, parse_pose
from fastkp.data.synth import make_biwi

PERSONS = ["01", "02", "13"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_biwi(tmp_path_factory.mktemp("biwi") / "biwi", persons=3, frames_per_person=4, seed=3)


@pytest.fixture
def copy(tree, tmp_path) -> Path:
    return Path(shutil.copytree(tree, tmp_path / "biwi"))


def expected_centre(image: Path, cal_folder: Path) -> np.ndarray:
    """The book's formula, computed independently with numpy's text readers."""
    k = np.loadtxt(cal_folder / "rgb.cal", max_rows=3)
    t = np.loadtxt(image.parent / image.name.replace("_rgb.jpg", "_pose.txt"))[3]
    return np.array([t[0] * k[0, 0] / t[2] + k[0, 2], t[1] * k[1, 1] / t[2] + k[1, 2]])


def test_layout_and_split(tree):
    d = load_biwi(tree)
    train, valid = d.train, d.valid
    assert sorted(p.name for p in tree.iterdir()) == PERSONS
    assert len(train) == 8 and len(valid) == 4
    assert {Path(s.path).parent.name for s in valid} == {"13"}
    assert {Path(s.path).parent.name for s in train} == {"01", "02"}
    assert [s.path for s in train] == sorted(s.path for s in train)
    for s in train + valid:
        assert s.size == (480, 640) and s.labels is None
        assert s.keypoints.shape == (1, 2) and s.keypoints.dtype == np.float32


def test_tilde_is_the_home_folder(tree, monkeypatch):
    monkeypatch.setenv("HOME", str(tree.parent))
    d = load_biwi("~/biwi")
    train, valid = d.train, d.valid
    want = load_biwi(tree)
    assert [s.path for s in train + valid] == [s.path for split in (want.train, want.valid) for s in split]


def test_centres_match_independent_formula(tree):
    d = load_biwi(tree)
    train, valid = d.train, d.valid
    for s in train + valid:
        image = Path(s.path)
        np.testing.assert_allclose(s.keypoints[0], expected_centre(image, image.parent), rtol=0, atol=1e-4)


def test_each_folder_uses_its_own_intrinsics(copy):
    k1, k2 = (np.loadtxt(copy / p / "rgb.cal", max_rows=3) for p in ("01", "02"))
    assert not np.allclose(k1, k2)  # the generator varies them per folder
    d = load_biwi(copy)
    train = d.train
    for s in train:
        if Path(s.path).parent.name == "02":  # the book's bug would use folder 01's file
            assert np.abs(s.keypoints[0] - expected_centre(Path(s.path), copy / "01")).max() > 0.05

    # Change only folder 02's intrinsics: only its centres move, by the formula.
    cal = (copy / "02" / "rgb.cal").read_text().splitlines()
    cal[0] = "600 0 300 "
    cal[1] = "0 610 250 "
    (copy / "02" / "rgb.cal").write_text("\n".join(cal) + "\n")
    d = load_biwi(copy)
    moved = d.train
    for before, after in zip(train, moved):
        image = Path(after.path)
        if image.parent.name == "02":
            assert np.abs(after.keypoints - before.keypoints).max() > 1
        np.testing.assert_allclose(after.keypoints[0], expected_centre(image, image.parent), atol=1e-4)


def test_valid_persons_argument(tree):
    d = load_biwi(tree, valid_persons=("01", "02"))
    train, valid = d.train, d.valid
    assert len(train) == 4 and len(valid) == 8
    d = load_biwi(tree, valid_persons="02")
    train, valid = d.train, d.valid
    assert {Path(s.path).parent.name for s in valid} == {"02"}


def test_extra_files_and_folders_are_ignored(copy):
    (copy / "01.obj").write_text("v 0 0 0\n")
    (copy / "notes").mkdir()
    (copy / "01" / "depth.cal").write_text("1 2 3\n")
    (copy / "01" / "frame_00003_depth.bin").write_bytes(b"\0" * 8)
    d = load_biwi(copy)
    train, valid = d.train, d.valid
    assert len(train) + len(valid) == 12


# ---- bad input: each raises DatasetError naming the file --------------------------------------


def _first(root: Path, person: str = "01", suffix: str = "rgb.jpg") -> Path:
    return sorted((root / person).glob(f"frame_*_{suffix}"))[0]


def _replace(path: Path, data: bytes | None) -> str:
    """Overwrite ``path`` (delete it for None); returns the name the error must mention."""
    path.unlink() if data is None else path.write_bytes(data)
    return path.name


def _set_pose(root: Path, text: str) -> str:
    return _replace(_first(root, suffix="pose.txt"), text.encode())


def _set_translation(root: Path, t: str) -> str:
    pose = _first(root, suffix="pose.txt")
    lines = pose.read_text().splitlines()
    pose.write_text("\n".join(lines[:4] + [t]) + "\n")
    return pose.name


def _set_cal(root: Path, text: str | None) -> str:
    _replace(root / "02" / "rgb.cal", None if text is None else text.encode())
    return "02/rgb.cal"


GOOD_CAL = "517 0 320\n0 517 240\n0 0 1\n\n0 0 0 0\n\n1 0 0\n0 1 0\n0 0 1\n\n0 0 0\n"
ROT = "1 0 0\n0 1 0\n0 0 1\n\n"

BAD = {
    "not an image": lambda r: _replace(_first(r), b"GIF? no, text"),
    "cut header": lambda r: _replace(_first(r), _first(r).read_bytes()[:100]),
    "pose missing": lambda r: _replace(_first(r, suffix="pose.txt"), None),
    "pose not utf-8": lambda r: _replace(_first(r, suffix="pose.txt"), b"\xff\xfe\x00garbage"),
    "pose too few numbers": lambda r: _set_pose(r, ROT + "10 20\n"),
    "pose too many numbers": lambda r: _set_pose(r, ROT + "10 20 900 1\n"),
    "pose missing rotation row": lambda r: _set_pose(r, "1 0 0\n0 1 0\n\n10 20 900\n"),
    "pose empty": lambda r: _set_pose(r, ""),
    "pose not numbers": lambda r: _set_pose(r, ROT + "ten 20 900\n"),
    "pose nan": lambda r: _set_translation(r, "nan 20 900"),
    "pose inf": lambda r: _set_translation(r, "10 inf 900"),
    "pose overflow": lambda r: _set_translation(r, "10 1e999 900"),
    "tz zero": lambda r: _set_translation(r, "10 20 0"),
    "tz negative": lambda r: _set_translation(r, "10 20 -900"),
    "centre far outside": lambda r: _set_translation(r, "2000 0 900"),
    "cal missing": lambda r: _set_cal(r, None),
    "cal short": lambda r: _set_cal(r, GOOD_CAL.rsplit("\n", 2)[0] + "\n"),
    "cal extra number": lambda r: _set_cal(r, GOOD_CAL.replace("0 0 0 0", "0 0 0 0 0")),
    "cal nan": lambda r: _set_cal(r, GOOD_CAL.replace("517 0 320", "nan 0 320")),
    "cal zero focal": lambda r: _set_cal(r, GOOD_CAL.replace("0 517 240", "0 0 240")),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_raises_naming_the_file(copy, case):
    name = BAD[case](copy)
    with pytest.raises(DatasetError) as info:
        load_biwi(copy)
    assert name in str(info.value)


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_skipped_and_counted(copy, case, caplog):
    name = BAD[case](copy)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_biwi(copy, on_error="skip")
        train, valid = d.train, d.valid
    bad = 4 if case.startswith("cal") else 1  # a bad rgb.cal costs its folder
    assert len(train) + len(valid) == 12 - bad
    records = [r for r in caplog.records if r.name == "fastkp.data"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert f"skipped {bad} bad sample" in records[0].getMessage() and name in records[0].getMessage()


def test_good_tree_logs_nothing(tree, caplog):
    with caplog.at_level(logging.DEBUG, logger="fastkp.data"):
        load_biwi(tree, on_error="skip")
    assert caplog.records == []


def test_summary_names_only_the_first_few(copy, caplog):
    for pose in sorted(copy.glob("0[12]/frame_*_pose.txt"))[:6]:
        pose.write_text("garbage\n")
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        load_biwi(copy, on_error="skip")
    [record] = caplog.records
    assert "skipped 6 bad sample" in record.getMessage()
    assert record.getMessage().count("_pose.txt") == 3


def test_dataset_level_problems_raise_even_when_skipping(copy, tmp_path):
    with pytest.raises(DatasetError, match="empty_root"):
        load_biwi((tmp_path / "empty_root").mkdir() or tmp_path / "empty_root", on_error="skip")
    with pytest.raises(DatasetError, match="not a directory"):
        load_biwi(tmp_path / "absent", on_error="skip")
    (tmp_path / "frameless" / "13").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no NN/frame_XXXXX_rgb.jpg"):
        load_biwi(tmp_path / "frameless", on_error="skip")
    with pytest.raises(DatasetError, match="99"):
        load_biwi(copy, valid_persons=("99",), on_error="skip")
    for pose in (copy / "13").glob("*_pose.txt"):
        pose.write_text("broken\n")
    with pytest.raises(DatasetError, match="empty validation split"):
        load_biwi(copy, on_error="skip")
    with pytest.raises(DatasetError, match="empty training split"):
        load_biwi(copy, valid_persons=("01", "02", "13"), on_error="skip")


def test_on_error_is_validated(tree):
    with pytest.raises(ValueError, match="on_error"):
        load_biwi(tree, on_error="ignore")


# ---- parsers under garbage --------------------------------------------------------------------

number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "1_0", "", "--1", ".", "1e", "٣"]),
)
row = st.lists(number, max_size=5).map(" ".join)
numeric_text = st.lists(st.one_of(row, st.just("")), max_size=12).map("\n".join)
garbage = st.one_of(st.text(max_size=200), numeric_text)


@settings(max_examples=200, deadline=None)
@given(garbage)
def test_parse_pose_garbage(text):
    try:
        rotation, translation = parse_pose(text, "fuzz_pose.txt")
    except DatasetError as err:
        assert "fuzz_pose.txt" in str(err)
    else:
        assert rotation.shape == (3, 3) and translation.shape == (3,)
        assert np.isfinite(rotation).all() and np.isfinite(translation).all() and translation[2] > 0


@settings(max_examples=200, deadline=None)
@given(garbage)
def test_parse_cal_garbage(text):
    try:
        k = parse_cal(text, "fuzz_rgb.cal")
    except DatasetError as err:
        assert "fuzz_rgb.cal" in str(err)
    else:
        assert k.shape == (3, 3) and np.isfinite(k).all() and k[0, 0] > 0 and k[1, 1] > 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=12, max_size=12), st.floats(1e-3, 1e6))
def test_parse_pose_reads_well_formed_text(values, tz):
    values[11] = tz
    rows = [" ".join(repr(v) for v in values[i : i + 3]) + " " for i in range(0, 12, 3)]
    text = "\n".join(rows[:3]) + "\n\n" + rows[3] + "\n"
    rotation, translation = parse_pose(text, "p")
    np.testing.assert_array_equal(np.concatenate([rotation.ravel(), translation]), values)
