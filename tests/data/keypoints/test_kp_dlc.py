"""DeepLabCut CSV: the generator's files read back, mirror names and flip files, bad rows
and headers, and the fuzzed parser."""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fastkp.data import DatasetError
from fastkp.data.dlc import DLC_SHIFT, load_dlc, parse_dlc
from fastkp.data.flips import mirror_name
from fastkp.data.on_error import Skipper
from fastkp.data.synth.dlc import BODYPARTS
from support.keypoints import N, _all, _check_samples, _dlc_set, number


@pytest.mark.parametrize("name, mirror", [
    ("left_ear", "right_ear"), ("LeftPaw", "RightPaw"), ("RIGHT_EYE", "LEFT_EYE"),
    ("front_left_paw", "front_right_paw"),
    ("pawLeft", "pawRight"), ("earL", "earL"), ("leftear", "leftear"), ("bright", "bright"), ("tail", "tail"),
])  # fmt: skip
def test_mirror_name_swaps_only_the_words_left_and_right(name, mirror):
    assert mirror_name(name) == mirror


def test_dlc_round_trip(trees):
    root = trees["dlc"]
    d = load_dlc(root)
    _check_samples(d, len(BODYPARTS))
    names = list(BODYPARTS)
    assert list(d.meta.point_names) == names
    flip = np.array(d.meta.flip_index)
    assert names[flip[names.index("LeftEar")]] == "RightEar"
    assert flip[names.index("tailbase")] == names.index("tailbase")
    assert names[flip[names.index("left_hindpaw")]] == "right_hindpaw"
    assert len(d.valid) == round(0.2 * N)
    got = {s.path: s for s in _all(d)}
    empty = 0
    for path in sorted((root / "labeled-data").glob("*/CollectedData_*.csv")):
        rows = list(csv.reader(path.open()))
        n_index = 3 if rows[0][1] == "" else 1
        for row in rows[3:]:
            s = got[str(path.parent / row[n_index - 1].split("/")[-1])]
            cells = row[n_index:]
            want = np.array([float(v) if v else np.nan for v in cells], np.float32).reshape(-1, 2)
            np.testing.assert_allclose(s.keypoints, want + np.float32(DLC_SHIFT), atol=1e-4)
            empty += int(np.isnan(want[:, 0]).sum())
            assert ((s.visibility == 2) == ~np.isnan(want[:, 0])).all()
    assert empty > 0 and len(got) == N


BAD_DLC = {
    "half a pair": (_dlc_set(5, 4, ""), "snout: only one of x, y"),
    "not a number": (_dlc_set(4, 6, "abc"), "LeftEar y: 'abc'"),
    "inf": (_dlc_set(4, 6, "inf"), "'inf'"),
    "duplicate frame": (_dlc_set(5, 2, "img0000.png"), "img0000.png is also on line 4"),
    "dotdot frame": (_dlc_set(5, 2, ".."), "'..'"),
    "missing frame": (_dlc_set(5, 2, "gone.png"), "gone.png: missing"),
}


@pytest.mark.parametrize("case", BAD_DLC)
def test_dlc_bad_row_names_file_and_line(copy, case, caplog):
    root = copy("dlc")
    edit, match = BAD_DLC[case]
    line = edit(root)
    with pytest.raises(DatasetError, match=match) as info:
        load_dlc(root)
    assert f"CollectedData_synth.csv: {line}" in str(info.value)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        assert len(_all(load_dlc(root, on_error="skip"))) == N - 1
    assert "skipped 1 bad sample" in caplog.records[0].getMessage()


@pytest.mark.parametrize("edit, match", [
    (_dlc_set(2, 0, "individuals"), "multi-animal"),
    (_dlc_set(3, 3, "y"), "must be x,y"),
    (_dlc_set(2, 4, "tail"), "must name one body part"),
    (_dlc_set(1, 0, "Scorer"), "'scorer' header row"),
])  # fmt: skip
def test_dlc_bad_header_raises_even_when_skipping(copy, edit, match):
    root = copy("dlc")
    edit(root)
    with pytest.raises(DatasetError, match=match):
        load_dlc(root, on_error="skip")


def test_dlc_flip_file_overrides_the_names(copy, tmp_path):
    root = copy("dlc")
    k = len(BODYPARTS)
    swap = list(range(k))
    swap[0], swap[-1] = k - 1, 0
    flip = tmp_path / "flip.json"
    flip.write_text(json.dumps({"flip_index": swap}))
    assert np.array(load_dlc(root, flip_json=flip).meta.flip_index).tolist() == swap
    flip.write_text(json.dumps({"flip_index": swap, "names": list(BODYPARTS)}))
    assert np.array(load_dlc(root, flip_json=flip).meta.flip_index).tolist() == swap
    for bad, match in (({"flip_index": [1, 2, 0] + list(range(3, k))}, "own inverse"),
                       ({"flip_index": [0] * k}, "permutation"),
                       ({"flip_index": swap, "names": ["a"] * k}, "not the CSV's body parts"), ([1], "flip_index")):
        flip.write_text(json.dumps(bad))
        with pytest.raises(DatasetError, match=match):
            load_dlc(root, flip_json=flip, on_error="skip")


def test_dlc_unpaired_side_names_need_a_flip_file(copy):
    root = copy("dlc")
    _dlc_set(2, 3 + 2 * BODYPARTS.index("RightEar"), "EarR")(root)
    _dlc_set(2, 4 + 2 * BODYPARTS.index("RightEar"), "EarR")(root)
    with pytest.raises(DatasetError, match="body parts .* differ"):  # video2 still says RightEar
        load_dlc(root)
    other = root / "labeled-data" / "video2" / "CollectedData_synth.csv"
    other.write_text(other.read_text().replace("RightEar", "EarR"))
    with pytest.raises(DatasetError, match="'LeftEar' has no mirror point 'RightEar'; give a flip file"):
        load_dlc(root)


def test_dlc_folders_without_a_csv_are_not_read(copy):
    root = copy("dlc")
    (root / "labeled-data" / "video1_labeled").mkdir()
    (root / "labeled-data" / "video1_labeled" / "img0000.png").write_bytes(b"plot")
    assert len(_all(load_dlc(root))) == N
    shutil.rmtree(root / "labeled-data")
    with pytest.raises(DatasetError, match="labeled-data: missing"):
        load_dlc(root)


# ---- garbage ------------------------------------------------------------------------------------

def _dlc_like(rows: list[list[str]], n_index: int) -> str:
    pad = [""] * (n_index - 1)
    head = [["scorer", *pad, "s", "s", "s", "s"], ["bodyparts", *pad, "a", "a", "b", "b"],
            ["coords", *pad, "x", "y", "x", "y"]]
    out = io.StringIO()
    csv.writer(out).writerows(head + rows)
    return out.getvalue()


dlc_text = st.one_of(
    st.text(max_size=300),
    st.builds(_dlc_like, st.lists(st.lists(st.one_of(number, st.sampled_from(["img.png", "../x.png", "a/b.png"])),
                                           max_size=7), max_size=4), st.sampled_from([1, 3])),
)


@settings(max_examples=150, deadline=None)
@given(dlc_text)
def test_parse_dlc_garbage(text):
    try:
        names, rows = parse_dlc(text, "fuzz.csv", Skipper("skip", "fuzz"))
    except DatasetError as err:
        event("DatasetError")
        assert "fuzz.csv" in str(err)
    else:
        event("read")
        for _, fname, points in rows:
            assert "/" not in fname and points.shape == (len(names), 2)
