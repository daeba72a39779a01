"""DeepLabCut CSV: the generator's files read back, config.yaml (body part order, training
fraction, multi-animal projects), flip files, bad rows and headers, and the fuzzed parser."""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil

import numpy as np
import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fastkp.data import DatasetError
from fastkp.data.dlc import DLC_SHIFT, load_dlc, parse_dlc
from fastkp.data.on_error import Skipper
from fastkp.data.synth.dlc import BODYPARTS
from support.keypoints import N, _all, _check_samples, _dlc_set, number


def test_dlc_round_trip(trees):
    root = trees["dlc"]
    d = load_dlc(root)
    _check_samples(d, len(BODYPARTS))
    names = list(BODYPARTS)
    assert list(d.meta.point_names) == names
    flip = np.array(d.meta.flip_index)
    assert [names[i] for i in flip] == ["snout", "rightear", "leftear", "R_forepaw", "L_forepaw", "right_hindpaw",
                                        "left_hindpaw", "tailbase", "tail_tip"]
    assert len(d.valid) == round(0.2 * N) and d.meta.split.endswith("(1 - TrainingFraction[0] of "
                                                                     f"{root / 'config.yaml'})")
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
    "not a number": (_dlc_set(4, 6, "abc"), "leftear y: 'abc'"),
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


def _rename(root, old: str, new: str) -> None:
    for path in [*root.glob("config.yaml"), *(root / "labeled-data").glob("*/CollectedData_*.csv")]:
        path.write_text(path.read_text().replace(old, new))
    for path in (root / "labeled-data").glob("*/CollectedData_*.h5"):
        path.unlink()


def test_dlc_unpaired_side_names_need_a_flip_file(copy, caplog):
    root = copy("dlc")
    _dlc_set(2, 3 + 2 * BODYPARTS.index("right_hindpaw"), "hindpawR")(root)
    _dlc_set(2, 4 + 2 * BODYPARTS.index("right_hindpaw"), "hindpawR")(root)
    (root / "config.yaml").unlink()
    with pytest.raises(DatasetError, match="body parts .* differ"):  # video2 still says right_hindpaw
        load_dlc(root)
    _rename(root, "right_hindpaw", "hindpawR")
    with pytest.raises(DatasetError, match="'left_hindpaw' has no mirror point 'right_hindpaw'; give a flip file"):
        load_dlc(root)
    _rename(root, "left_hindpaw", "hindpawL")  # pairs with hindpawR: a lone L/R letter
    _rename(root, "rightear", "ear_right")  # the word right: no partner is an error
    with pytest.raises(DatasetError, match=r"CollectedData_synth.csv: body parts: point 2 'ear_right' has no"):
        load_dlc(root)
    _rename(root, "ear_right", "earRight")
    _rename(root, "leftear", "earLeft")
    _rename(root, "R_forepaw", "forepaw_R")  # L_forepaw has lost its partner: a warning, not an error
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_dlc(root)
    names = list(d.meta.point_names)
    assert [names[i] for i in d.meta.flip_index] == ["snout", "earRight", "earLeft", "L_forepaw", "forepaw_R",
                                                     "hindpawR", "hindpawL", "tailbase", "tail_tip"]
    (record,) = caplog.records
    assert "CollectedData_synth.csv: body parts: 'L_forepaw' (no 'R_forepaw'), 'forepaw_R' (no 'forepaw_L') " \
           "look sided but have no mirror point" in record.getMessage()


# ---- config.yaml --------------------------------------------------------------------------------

def _config(root, **changes) -> None:
    path = root / "config.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.update(changes)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_dlc_config_orders_the_body_parts_and_gives_the_split(copy, trees):
    root = copy("dlc")
    before = load_dlc(trees["dlc"])
    order = list(reversed(BODYPARTS))
    _config(root, bodyparts=order, TrainingFraction=[0.5, 0.8])
    d = load_dlc(root)
    assert list(d.meta.point_names) == order and len(d.valid) == N // 2
    assert d.meta.split == f"random 0.5 of the rows, seed 0 (1 - TrainingFraction[0] of {root / 'config.yaml'})"
    take = [BODYPARTS.index(p) for p in order]
    same = {s.path.replace(str(root), ""): s for s in _all(d)}
    for s in _all(before):
        np.testing.assert_array_equal(same[s.path.replace(str(trees["dlc"]), "")].keypoints, s.keypoints[take])
    mirror = dict(zip(BODYPARTS, (BODYPARTS[i] for i in before.meta.flip_index)))
    assert [order[i] for i in d.meta.flip_index] == [mirror[p] for p in order]


def test_dlc_without_config_reads_as_before(copy):
    root = copy("dlc")
    (root / "config.yaml").unlink()
    d = load_dlc(root, valid_frac=0.25)
    assert list(d.meta.point_names) == list(BODYPARTS) and len(d.valid) == 3
    assert d.meta.split == "random 0.25 of the rows, seed 0"
    assert load_dlc(root).meta.split == "random 0.2 of the rows, seed 0"


@pytest.mark.parametrize("changes, match", [
    ({"bodyparts": list(BODYPARTS[:-1])},
     r"CollectedData_synth.csv: body parts \['tail_tip'\] are not in .*config.yaml's bodyparts"),
    ({"bodyparts": [*BODYPARTS, "tail_mid"]},
     r"CollectedData_synth.csv: body parts .* lack \['tail_mid'\] of .*config.yaml's"),
    ({"bodyparts": "MULTI!", "multianimalproject": True}, r"config.yaml: multianimalproject is true: a multi-animal"),
    ({"bodyparts": ["a", "a"]}, r"config.yaml: bodyparts must be a list of distinct names"),
    ({"TrainingFraction": 0.8}, r"config.yaml: TrainingFraction must be a list whose first value is in \(0, 1\)"),
    ({"TrainingFraction": [1.0]}, r"config.yaml: TrainingFraction must be a list"),
])  # fmt: skip
def test_dlc_bad_config_is_refused_naming_the_file(copy, changes, match):
    root = copy("dlc")
    _config(root, **changes)
    with pytest.raises(DatasetError, match=match):
        load_dlc(root, on_error="skip")


def test_dlc_config_that_is_not_yaml(copy):
    root = copy("dlc")
    (root / "config.yaml").write_text("bodyparts: [a\n")
    with pytest.raises(DatasetError, match=r"config.yaml: not valid YAML"):
        load_dlc(root)
    (root / "config.yaml").write_text("- a\n")
    with pytest.raises(DatasetError, match=r"config.yaml: expected a mapping with bodyparts"):
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
