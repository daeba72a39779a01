"""Landmark reader: K points with NaN for unlabelled pairs, flip permutation, seeded split."""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fastkp.data import DatasetError, load_landmarks
from fastkp.data.flips import parse_landmark_flip
from fastkp.data.synth import make_landmarks

N, K = 20, 16


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_landmarks(tmp_path_factory.mktemp("lm") / "faces", N, k=K, seed=2, size=(96, 96))


@pytest.fixture
def copy(tree, tmp_path) -> Path:
    return Path(shutil.copytree(tree, tmp_path / "faces"))


def _csv(root: Path) -> list[list[str]]:
    return list(csv.reader(open(root / "landmarks.csv", newline="")))


def _write_csv(root: Path, rows: list[list[str]]) -> None:
    with open(root / "landmarks.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)


def test_points_match_the_csv_with_nan_for_empty_pairs(tree):
    d = load_landmarks(tree)
    train, valid = d.train, d.valid
    rows = {r[0]: r[1:] for r in _csv(tree)[1:]}
    assert len(train) + len(valid) == N
    empty = 0
    for s in train + valid:
        fields = rows[Path(s.path).name]
        expected = np.array([float(v) if v else np.nan for v in fields], np.float32).reshape(K, 2)
        np.testing.assert_array_equal(s.keypoints, expected)
        assert s.keypoints.dtype == np.float32 and s.size == (96, 96) and s.labels is None
        empty += int(np.isnan(s.keypoints[:, 0]).sum())
    assert empty > 0  # the generator leaves some points unlabelled


def test_tilde_is_the_home_folder(tree, monkeypatch):
    monkeypatch.setenv("HOME", str(tree.parent))
    d = load_landmarks("~/faces")
    train, valid, flip = d.train, d.valid, np.array(d.meta.flip_index)
    d = load_landmarks(tree)
    want_train, want_valid, want_flip = d.train, d.valid, np.array(d.meta.flip_index)
    assert [s.path for s in train + valid] == [s.path for s in want_train + want_valid]
    np.testing.assert_array_equal(flip, want_flip)


def test_flip_index_is_the_files_involution(tree):
    d = load_landmarks(tree)
    flip = np.array(d.meta.flip_index)
    spec = json.loads((tree / "flip.json").read_text())
    assert flip.tolist() == spec["flip_index"] and flip.dtype == np.int64
    assert sorted(flip.tolist()) == list(range(K)) and (flip[flip] == np.arange(K)).all()
    names = spec["names"]
    for i, j in enumerate(flip):
        if names[i].startswith("left_"):
            assert names[j] == "right_" + names[i][5:]
        elif not names[i].startswith("right_"):
            assert j == i  # points on the face's axis map to themselves


def test_mirrored_points_swap_sides(tree):
    """Under a flip x -> W - x, a left point lands where the mirrored face has its left point."""
    d = load_landmarks(tree)
    train, flip = d.train, np.array(d.meta.flip_index)
    names = json.loads((tree / "flip.json").read_text())["names"]
    left, right = names.index("left_eye"), names.index("right_eye")
    for s in train:
        pts = s.keypoints.copy()
        pts[:, 0] = s.size[1] - pts[:, 0]
        flipped = pts[flip]
        if not np.isnan(flipped[[left, right], 0]).any():
            assert flipped[left, 0] < flipped[right, 0]


def test_split_is_seeded_and_sized(tree):
    d = load_landmarks(tree, seed=1)
    a_train, a_valid = d.train, d.valid
    d = load_landmarks(tree, seed=1)
    b_train, b_valid = d.train, d.valid
    assert [s.path for s in a_valid] == [s.path for s in b_valid]
    assert len(a_valid) == round(0.2 * N) and len(a_train) == N - len(a_valid)
    assert {s.path for s in a_train}.isdisjoint(s.path for s in a_valid)
    others = {tuple(s.path for s in load_landmarks(tree, seed=seed).valid) for seed in range(2, 6)}
    assert len(others | {tuple(s.path for s in a_valid)}) > 1
    d = load_landmarks(tree, valid_frac=0.5)
    valid = d.valid
    assert len(valid) == N // 2


# ---- bad input ---------------------------------------------------------------------------------


def _set_field(line: int, column: int, value: str):
    def apply(root: Path) -> str:
        rows = _csv(root)
        rows[line - 1][column] = value
        _write_csv(root, rows)
        return f"landmarks.csv: line {line}"

    return apply


def _row_length(root: Path) -> str:
    rows = _csv(root)
    rows[4] = rows[4][:-1]
    _write_csv(root, rows)
    return "landmarks.csv: line 5"


def _image(root: Path, data: bytes | None) -> str:
    path = root / "images" / _csv(root)[3][0]
    path.unlink() if data is None else path.write_bytes(data)
    return path.name


BAD = {
    "not a number": _set_field(3, 5, "abc"),
    "nan": _set_field(3, 5, "nan"),
    "inf": _set_field(3, 6, "-inf"),
    "half a pair": _set_field(4, 3, ""),
    "far outside": _set_field(2, 1, "500"),
    "wrong field count": _row_length,
    "empty fname": _set_field(6, 0, ""),
    "missing image": lambda r: _image(r, None),
    "not an image": lambda r: _image(r, b"\x89PNG but not really"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_row_raises_naming_file_line_and_field(copy, case):
    name = BAD[case](copy)
    with pytest.raises(DatasetError) as info:
        load_landmarks(copy)
    assert name in str(info.value)


def test_bad_number_names_the_field(copy):
    _set_field(3, 6, "abc")(copy)  # columns: fname, x0, y0, x1, y1, x2, y2
    with pytest.raises(DatasetError, match=r"line 3: field y2"):
        load_landmarks(copy)


@pytest.mark.parametrize("case", BAD)
def test_bad_row_is_skipped_with_one_log_line(copy, case, caplog):
    name = BAD[case](copy)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_landmarks(copy, on_error="skip")
        train, valid = d.train, d.valid
    assert len(train) + len(valid) == N - 1
    [record] = caplog.records
    assert "skipped 1 bad sample" in record.getMessage() and name in record.getMessage()


def _flip(**spec) -> str:
    names = [f"p{i}" for i in range(K)]
    return json.dumps({"names": names, "flip_index": list(range(K))} | spec)


BAD_FLIP = {
    "not json": ("{names: [", "not valid JSON"),
    "not an object": ("[1, 2]", "keys"),
    "extra key": (_flip(extra=1), "keys"),
    "names too short": (_flip(names=["a"]), "names"),
    "names not strings": (_flip(names=list(range(K))), "names"),
    "index too short": (_flip(flip_index=[0]), "flip_index"),
    "not a permutation": (_flip(flip_index=[0] * K), "flip_index"),
    "out of range": (_flip(flip_index=list(range(1, K + 1))), "flip_index"),
    "floats": (_flip(flip_index=[float(i) for i in range(K)]), "flip_index"),
    "bools": (_flip(flip_index=[True] + list(range(1, K))), "flip_index"),
    "not an involution": (_flip(flip_index=[1, 2, 0] + list(range(3, K))), "own inverse"),
    "deeply nested": ("[" * 100000, "not valid JSON"),
}


@pytest.mark.parametrize("case", BAD_FLIP)
def test_bad_flip_json_raises_even_when_skipping(copy, case):
    text, match = BAD_FLIP[case]
    (copy / "flip.json").write_text(text)
    with pytest.raises(DatasetError, match=match) as info:
        load_landmarks(copy, on_error="skip")
    assert "flip.json" in str(info.value)


@pytest.mark.parametrize(
    "header", ["fname", "fname,x0", "fname,x0,y0,x2,y2", "name,x0,y0", "fname,y0,x0"]
)
def test_bad_header_raises(copy, header):
    rows = _csv(copy)
    _write_csv(copy, [header.split(",")] + rows[1:])
    with pytest.raises(DatasetError, match="landmarks.csv: line 1"):
        load_landmarks(copy, on_error="skip")


def test_dataset_level_problems(copy, tmp_path):
    with pytest.raises(DatasetError, match="landmarks.csv"):
        load_landmarks(tmp_path, on_error="skip")
    (copy / "flip.json").unlink()
    with pytest.raises(DatasetError, match="flip.json"):
        load_landmarks(copy, on_error="skip")


def test_empty_splits(copy):
    with pytest.raises(DatasetError, match="empty validation split"):
        load_landmarks(copy, valid_frac=0.01)
    with pytest.raises(DatasetError, match="empty training split"):
        load_landmarks(copy, valid_frac=0.99)
    _write_csv(copy, _csv(copy)[:1])
    with pytest.raises(DatasetError, match="no usable rows"):
        load_landmarks(copy, on_error="skip")


@pytest.mark.parametrize("value", [0, 1, -0.1, 1.5, float("nan"), "0.2"])
def test_valid_frac_is_validated(tree, value):
    with pytest.raises(ValueError, match="valid_frac"):
        load_landmarks(tree, valid_frac=value)


def test_on_error_is_validated(tree):
    with pytest.raises(ValueError, match="on_error"):
        load_landmarks(tree, on_error=None)


# ---- garbage -----------------------------------------------------------------------------------

value = st.one_of(
    st.sampled_from(["", "1", "10.5", "-3", "1e3", "nan", "inf", "abc", " 4 ", "1e999", "50"]),
    st.text(max_size=6),
)
edits = st.lists(st.tuples(st.integers(0, N), st.integers(0, 2 * K + 1), value), max_size=3)


def _edited(tree: Path, changes) -> str:
    rows = _csv(tree)
    for line, column, v in changes:
        if column <= 2 * K:
            rows[line][column] = v
        else:
            rows[line].append(v)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    garbage=st.text(max_size=300),
    changes=edits,
    mutate=st.booleans(),
    on_error=st.sampled_from(["raise", "skip"]),
)
def test_garbage_csv_raises_dataset_error_or_reads(tree, copy, garbage, changes, mutate, on_error):
    text = _edited(tree, changes) if mutate else garbage
    (copy / "landmarks.csv").write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        d = load_landmarks(copy, on_error=on_error)
        train, valid, flip = d.train, d.valid, np.array(d.meta.flip_index)
    except DatasetError as err:
        event("DatasetError")
        assert "landmarks.csv" in str(err) or "images" in str(err) or "flip.json" in str(err)
    else:
        event("read")
        k = len(flip)
        for s in train + valid:
            assert s.keypoints.shape == (k, 2) and s.keypoints.dtype == np.float32
            labelled = s.keypoints[~np.isnan(s.keypoints).any(axis=1)]
            assert np.isfinite(labelled).all()


keys = st.sampled_from(["names", "flip_index"])
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 20) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(keys, inner),
)
flip_like = st.fixed_dictionaries({
    "names": st.lists(st.text(max_size=3), min_size=2, max_size=4),
    "flip_index": st.one_of(
        st.permutations([0, 1, 2]),
        st.lists(st.one_of(st.integers(-1, 3), st.booleans()), min_size=2, max_size=4),
    ),
})  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), st.builds(json.dumps, json_value), st.builds(json.dumps, flip_like)))
def test_parse_flip_garbage(text):
    try:
        _, flip = parse_landmark_flip(text, "fuzz_flip.json", 3)
    except DatasetError as err:
        event("DatasetError")
        assert "fuzz_flip.json" in str(err)
    else:
        event("read")
        assert sorted(flip.tolist()) == [0, 1, 2] and (flip[flip] == np.arange(3)).all()
