"""Keypoint formats: 300W .pts, COCO keypoints, DeepLabCut CSV and YOLO-pose, read back
from the generators, hand-made edge cases, bad and hostile input, and fuzzed parsers."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from fastkp.data import DatasetError
from fastkp.data._errors import Skipper
from fastkp.data._keypoints import (
    flip_from_names, keypoint_sample, keypoint_samples, mirror_name, points_box, read_bounded,
)
from fastkp.data.coco import COCO_SHIFT, load_coco, parse_coco
from fastkp.data.dlc import DLC_SHIFT, load_dlc, parse_dlc
from fastkp.data.images import pil_header, quick_header, read_header
from fastkp.data.pts300w import FLIP_68, NAMES_68, PTS_SHIFT, load_300w, parse_pts
from fastkp.data.synth.__main__ import cli
from fastkp.data.synth.coco import COCO_NAMES, make_coco
from fastkp.data.synth.dlc import BODYPARTS, make_dlc
from fastkp.data.synth.w300 import make_300w
from fastkp.data.synth.yolo import make_yolo
from fastkp.data.yolo_pose import label_path, load_yolo_pose, parse_data_yaml, parse_labels

N, SIZE = 12, (64, 80)


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("kp")
    return {
        "300w": make_300w(base / "300w", N, seed=1, size=SIZE),
        "coco": make_coco(base / "coco", N, seed=1, size=SIZE),
        "dlc": make_dlc(base / "dlc", N, seed=1, size=SIZE),
        "yolo": make_yolo(base / "yolo", N, seed=1, size=SIZE),
    }


@pytest.fixture
def copy(trees, tmp_path):
    def get(kind: str) -> Path:
        return Path(shutil.copytree(trees[kind], tmp_path / kind))

    return get


LOADERS = {
    "300w": load_300w,
    "coco": load_coco,
    "dlc": load_dlc,
    "yolo": lambda root, **kw: load_yolo_pose(root / "data.yaml", **kw),
}


def _all(d: dict) -> list:
    return d["train"] + d["valid"]


def _check_samples(d: dict, k: int) -> None:
    assert set(d) == {"train", "valid", "flip_index", "names"} and d["train"] and d["valid"]
    flip = d["flip_index"]
    assert flip.dtype == np.int64 and sorted(flip.tolist()) == list(range(k)) and (flip[flip] == np.arange(k)).all()
    assert len(d["names"]) == k
    for s in _all(d):
        assert s.keypoints.shape == (k, 2) and s.keypoints.dtype == np.float32
        assert s.visibility.shape == (k,) and s.visibility.dtype == np.int8
        assert s.box.shape == (4,) and s.box.dtype == np.float32 and (s.box[2:] > s.box[:2]).all()
        assert np.isin(s.visibility, (0, 1, 2)).all()
        assert (np.isnan(s.keypoints[:, 0]) == (s.visibility == 0)).all()
        assert s.size == SIZE


# ---- 300W ---------------------------------------------------------------------------------------


def test_300w_flip_is_the_standard_68_point_involution():
    flip = np.array(FLIP_68)
    assert sorted(flip.tolist()) == list(range(68)) and (flip[flip] == np.arange(68)).all()
    assert flip[36] == 45 and flip[0] == 16 and flip[30] == 30 and flip[8] == 8 and flip[48] == 54
    assert flip_from_names(NAMES_68, "names").tolist() == list(FLIP_68)  # the names say the same


def test_300w_round_trip(trees):
    root = trees["300w"]
    d = load_300w(root)
    _check_samples(d, 68)
    assert len(d["valid"]) == round(0.2 * N) and all("/valid/" in s.path for s in d["valid"])
    assert not any("/valid/" in s.path for s in d["train"])
    for s in _all(d):
        pts = Path(s.path).with_suffix(".pts").read_text().splitlines()[3:-1]
        written = np.array([[float(v) for v in line.split()] for line in pts], np.float32)
        np.testing.assert_allclose(s.keypoints, written + np.float32(PTS_SHIFT), atol=1e-4)
        assert (s.visibility == 2).all()
        np.testing.assert_allclose(s.box, points_box(s.keypoints, s.size), atol=1e-4)
    assert any(s.path.endswith(".png") for s in _all(d)) and any(s.path.endswith(".jpg") for s in _all(d))
    mirrored = d["train"][0].keypoints.copy()
    mirrored[:, 0] = SIZE[1] - mirrored[:, 0]
    assert mirrored[d["flip_index"]][36, 0] < mirrored[d["flip_index"]][45, 0]  # still left of 45 after a flip


def test_300w_random_split_without_a_valid_folder(tmp_path):
    root = make_300w(tmp_path / "f", 10, size=(48, 48), valid_folder=False)
    a, b = load_300w(root, seed=3), load_300w(root, seed=3)
    assert [s.path for s in a["valid"]] == [s.path for s in b["valid"]] and len(a["valid"]) == 2
    assert len(load_300w(root, valid_frac=0.5)["valid"]) == 5


def _pts(points: list[str], header: str = "version: 1\nn_points: 68\n{\n") -> str:
    return header + "\n".join(points) + "\n}\n"


GOOD = [f"{10 + i % 20}.5 {20 + i // 20}.25" for i in range(68)]
BAD_PTS = {
    "version": (_pts(GOOD, "version: 2\nn_points: 68\n{\n"), "line 1: only 'version: 1'"),
    "no version": (_pts(GOOD, "n_points: 68\n{\n"), "line 1: expected 'version"),
    "n_points vs lines": (_pts(GOOD[:-1]), "line 2: n_points is 68 but 67 point lines follow"),
    "n_points not a count": (_pts(GOOD, "version: 1\nn_points: x\n{\n"), "line 2: n_points 'x'"),
    "not 68": (_pts(GOOD[:67], "version: 1\nn_points: 67\n{\n"), "the 300W mark-up has 68"),
    "no brace": (_pts(GOOD, "version: 1\nn_points: 68\n"), "line 3: expected '{'"),
    "no closing": (_pts(GOOD)[:-3], "no closing"),
    "after": (_pts(GOOD) + "extra\n", "line 73: text after"),
    "three values": (_pts(GOOD[:5] + ["1 2 3"] + GOOD[6:]), "line 9: expected 'x y'"),
    "nan": (_pts(GOOD[:7] + ["nan 2"] + GOOD[8:]), "line 11: point 7: 'nan'"),
    "far outside": (_pts(["900 20"] + GOOD[1:]), "point 0 at"),
}


@pytest.mark.parametrize("case", BAD_PTS)
def test_300w_bad_pts_names_file_and_line(copy, case, caplog):
    root = copy("300w")
    target = sorted(root.rglob("*.pts"))[3]
    text, match = BAD_PTS[case]
    target.write_text(text)
    with pytest.raises(DatasetError, match=match) as info:
        load_300w(root)
    assert str(target) in str(info.value)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_300w(root, on_error="skip")
    assert len(_all(d)) == N - 1
    [record] = caplog.records
    assert "skipped 1 bad sample" in record.getMessage() and target.name in record.getMessage()


def test_300w_points_outside_the_image_are_kept(copy):
    root = copy("300w")
    target = sorted(root.rglob("*.pts"))[0]
    target.write_text(_pts(["-5 -7"] + GOOD[1:-1] + [f"{SIZE[1] + 9} 3"]))
    s = next(s for s in _all(load_300w(root)) if Path(s.path).stem == target.stem)
    assert s.keypoints[0].tolist() == [-5.5, -7.5] and s.keypoints[67, 0] == SIZE[1] + 8.5
    assert s.box[0] < -5.5 and s.box[2] > SIZE[1] + 8.5  # the box follows them out of the image


@pytest.mark.parametrize("case", ["no image", "two images", "not an image"])
def test_300w_image_problems(copy, case):
    root = copy("300w")
    pts = sorted(root.rglob("*.pts"))[2]
    image = next(p for p in pts.parent.iterdir() if p.stem == pts.stem and p.suffix != ".pts")
    if case == "no image":
        image.unlink()
    elif case == "two images":
        shutil.copy(image, image.with_suffix(".png" if image.suffix == ".jpg" else ".jpg"))
    else:
        image.write_bytes(b"not a picture")
    with pytest.raises(DatasetError, match=pts.stem):
        load_300w(root)
    assert len(_all(load_300w(root, on_error="skip"))) == N - 1


def test_300w_dataset_level_problems(tmp_path, copy):
    with pytest.raises(DatasetError, match="no .pts files"):
        load_300w(tmp_path, on_error="skip")
    root = copy("300w")
    for pts in (root / "valid").rglob("*.pts"):
        pts.unlink()
    with pytest.raises(DatasetError, match="empty validation"):
        load_300w(root)
    with pytest.raises(ValueError, match="valid_frac"):
        load_300w(root, valid_frac=1.0)


# ---- COCO ---------------------------------------------------------------------------------------


def _coco_json(root: Path, split: str = "train") -> tuple[Path, dict]:
    path = root / "annotations" / f"person_keypoints_{split}2017.json"
    return path, json.loads(path.read_text())


def test_coco_round_trip(trees):
    root = trees["coco"]
    d = load_coco(root)
    _check_samples(d, 17)
    assert d["names"] == list(COCO_NAMES) and d["flip_index"][:5].tolist() == [0, 2, 1, 4, 3]
    for split, samples in (("train", d["train"]), ("val", d["valid"])):
        _, spec = _coco_json(root, split)
        anns = [a for a in spec["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
        assert len(anns) == len(samples) and any(a["iscrowd"] for a in _coco_json(root)[1]["annotations"])
        files = {im["id"]: im["file_name"] for im in spec["images"]}
        for a, s in zip(anns, samples):
            kp = np.array(a["keypoints"], np.float32).reshape(17, 3)
            assert Path(s.path).name == files[a["image_id"]] and Path(s.path).parent.name == f"{split}2017"
            assert s.visibility.tolist() == kp[:, 2].astype(int).tolist()
            labelled = kp[:, 2] > 0
            np.testing.assert_array_equal(s.keypoints[labelled], kp[labelled, :2] + COCO_SHIFT)
            x, y, w, h = a["bbox"]
            np.testing.assert_allclose(s.box, [x, y, x + w, y + h], rtol=1e-6)
    vis = np.concatenate([s.visibility for s in _all(d)])
    assert {0, 1, 2} <= set(vis.tolist())  # the generator writes every kind
    boxes = np.stack([s.box for s in _all(d)])
    assert ((boxes[:, 0] < 0) | (boxes[:, 2] > SIZE[1])).any()  # some boxes reach outside the image


def _coco_edit(root: Path, change, ann_index: int = 0) -> int:
    """Apply ``change(annotation, spec)`` to a train annotation; returns its id."""
    path, spec = _coco_json(root)
    ann = [a for a in spec["annotations"] if not a["iscrowd"]][ann_index]
    change(ann, spec)
    path.write_text(json.dumps(spec))
    return ann["id"]


def _image_of(ann: dict, spec: dict) -> dict:
    return next(im for im in spec["images"] if im["id"] == ann["image_id"])


def _set(key, value):
    return lambda ann, spec: ann.__setitem__(key, value)


def _point(i: int, x, y, v):
    def change(ann, spec):
        ann["keypoints"][3 * i : 3 * i + 3] = [x, y, v]
        ann["num_keypoints"] = sum(1 for j in range(17) if ann["keypoints"][3 * j + 2] > 0)

    return change


BAD_COCO = {
    "visibility 3": (_point(2, 5, 5, 3), "keypoint 2: visibility 3"),
    "num_keypoints wrong": (lambda a, s: a.__setitem__("num_keypoints", a["num_keypoints"] - 1), "num_keypoints is"),
    "too few values": (lambda a, s: a.__setitem__("keypoints", a["keypoints"][:-3]), "list of 51 numbers"),
    "string value": (lambda a, s: a["keypoints"].__setitem__(0, "1"), "list of 51 numbers"),
    "bool value": (lambda a, s: a["keypoints"].__setitem__(0, True), "list of 51 numbers"),
    "bbox width 0": (lambda a, s: a["bbox"].__setitem__(2, 0), "bbox"),
    "bbox short": (_set("bbox", [1, 2, 3]), "bbox"),
    "iscrowd 2": (_set("iscrowd", 2), "iscrowd"),
    "unknown image": (_set("image_id", 999999), "image_id 999999"),
    "unknown category": (_set("category_id", 7), "category_id 7"),
    "dotdot file_name": (lambda a, s: _image_of(a, s).__setitem__("file_name", "../val2017/x.jpg"), "'..'"),
    "absolute file_name": (lambda a, s: _image_of(a, s).__setitem__("file_name", "/etc/passwd"), "absolute"),
    "missing image": (lambda a, s: _image_of(a, s).__setitem__("file_name", "nope.jpg"), "nope.jpg: missing"),
    "size mismatch": (lambda a, s: _image_of(a, s).__setitem__("width", 81), "the JSON says 81x64"),
    "far outside": (_point(3, 500, 5, 2), "point 3 at"),
}


@pytest.mark.parametrize("case", BAD_COCO)
def test_coco_bad_annotation_names_file_and_id(copy, case, caplog):
    root = copy("coco")
    change, match = BAD_COCO[case]
    ann_id = _coco_edit(root, change)
    with pytest.raises(DatasetError, match=match) as info:
        load_coco(root)
    assert f"person_keypoints_train2017.json: annotation id {ann_id}" in str(info.value)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_coco(root, on_error="skip")
    assert "skipped" in caplog.records[0].getMessage() and f"annotation id {ann_id}" in caplog.records[0].getMessage()
    assert d["train"]


def test_coco_crowd_and_empty_annotations_are_not_samples(copy):
    root = copy("coco")
    before = len(load_coco(root)["train"])
    _coco_edit(root, lambda a, s: (a.__setitem__("iscrowd", 1), a.pop("num_keypoints")), 0)
    _coco_edit(root, lambda a, s: (a.__setitem__("keypoints", [0] * 51), a.__setitem__("num_keypoints", 0)), 1)
    assert len(load_coco(root)["train"]) == before - 2


def test_coco_unlabelled_and_occluded_points(copy):
    root = copy("coco")
    ann_id = _coco_edit(root, lambda a, s: (_point(0, 0, 0, 0)(a, s), _point(5, 7, 8, 1)(a, s)))
    _, spec = _coco_json(root)
    index = [a["id"] for a in spec["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0].index(ann_id)
    s = load_coco(root)["train"][index]
    assert np.isnan(s.keypoints[0]).all() and s.visibility[0] == 0
    assert s.keypoints[5].tolist() == [7.5, 8.5] and s.visibility[5] == 1


@pytest.mark.parametrize("text, match", [
    ("[1]", "expected a JSON object"),
    ('{"images": [], "annotations": [], "categories": [{"id": 1, "keypoints": ["a"]}, '
     '{"id": 2, "keypoints": ["b"]}]}', "one category with keypoints"),
    ('{"images": [], "annotations": {}, "categories": [{"id": 1, "keypoints": ["a"]}]}',
     "'annotations' must be a list"),
    ('{"images": [], "annotations": [{"id": 1, "keypoints": [NaN, 1, 2]}]}', "not valid JSON"),
    ("[" * 100000, "not valid JSON"),
    (b"\xff\xfe{", "not UTF-8"),
])  # fmt: skip
def test_coco_bad_file_structure_raises_even_when_skipping(text, match):
    data = text if isinstance(text, bytes) else text.encode()
    with pytest.raises(DatasetError, match=match):
        parse_coco(data, "x.json", Skipper("skip", "test"))


def test_coco_keypoint_names_need_their_mirror(copy):
    root = copy("coco")
    for split in ("train", "val"):
        path, spec = _coco_json(root, split)
        spec["categories"][0]["keypoints"][1] = "left_eyebrow"
        path.write_text(json.dumps(spec))
    with pytest.raises(DatasetError, match="'left_eyebrow' has no mirror point 'right_eyebrow'"):
        load_coco(root)


def test_coco_layout_problems(copy):
    root = copy("coco")
    shutil.copy(root / "annotations" / "person_keypoints_val2017.json",
                root / "annotations" / "person_keypoints_val2014.json")
    with pytest.raises(DatasetError, match="several"):
        load_coco(root)
    (root / "annotations" / "person_keypoints_val2014.json").unlink()
    shutil.rmtree(root / "val2017")
    with pytest.raises(DatasetError, match="val2017: missing image folder"):
        load_coco(root)


def test_annotation_files_over_the_limit_are_refused(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 101)
    with pytest.raises(DatasetError, match="over the limit of 100"):
        read_bounded(path, "annotation file", limit=100)
    assert read_bounded(path, "annotation file", limit=101) == b" " * 101


# ---- DeepLabCut ---------------------------------------------------------------------------------


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
    assert d["names"] == names
    flip = d["flip_index"]
    assert names[flip[names.index("LeftEar")]] == "RightEar"
    assert flip[names.index("tailbase")] == names.index("tailbase")
    assert names[flip[names.index("left_hindpaw")]] == "right_hindpaw"
    assert len(d["valid"]) == round(0.2 * N)
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


def _dlc_csv(root: Path) -> Path:
    return root / "labeled-data" / "video1" / "CollectedData_synth.csv"


def _dlc_set(row: int, column: int, value: str):
    def apply(root: Path) -> str:
        path = _dlc_csv(root)
        rows = list(csv.reader(path.open()))
        rows[row - 1][column] = value
        with path.open("w", newline="") as f:
            csv.writer(f).writerows(rows)
        return f"line {row}"

    return apply


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
    assert load_dlc(root, flip_json=flip)["flip_index"].tolist() == swap
    flip.write_text(json.dumps({"flip_index": swap, "names": list(BODYPARTS)}))
    assert load_dlc(root, flip_json=flip)["flip_index"].tolist() == swap
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


# ---- YOLO-pose ----------------------------------------------------------------------------------


def test_yolo_round_trip(trees):
    root = trees["yolo"]
    d = load_yolo_pose(root / "data.yaml")
    _check_samples(d, 17)
    assert d["names"] == list(COCO_NAMES)
    spec = yaml.safe_load((root / "data.yaml").read_text())
    assert d["flip_index"].tolist() == spec["flip_idx"]
    h, w = SIZE
    i = 0
    for split, samples in (("train", d["train"]), ("val", d["valid"])):
        objects = []
        for image in sorted((root / "images" / split).iterdir()):
            labels = root / "labels" / split / (image.stem + ".txt")
            if labels.exists():
                objects += [(str(image), line.split()) for line in labels.read_text().splitlines()]
        assert len(objects) == len(samples)
        for (image, fields), s in zip(objects, samples):
            v = np.array(fields[1:], np.float64)
            cx, cy, bw, bh = v[:4] * (w, h, w, h)
            assert s.path == image
            np.testing.assert_allclose(s.box, [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], atol=1e-3)
            kp = v[4:].reshape(17, 3)
            assert s.visibility.tolist() == kp[:, 2].astype(int).tolist()
            on = kp[:, 2] > 0
            np.testing.assert_allclose(s.keypoints[on], kp[on, :2] * (w, h), atol=1e-3)
            i += 1
    assert i == len(_all(d))


def test_label_path_follows_yolo():
    root = Path("/data/set")
    assert label_path(root, root / "images/train/a.b.jpg") == root / "labels/train/a.b.txt"
    assert label_path(root, root / "x/images/y/images/z.png") == root / "x/images/y/labels/z.txt"
    assert label_path(root, root / "frames/z.png") == root / "frames/z.txt"
    assert label_path(Path("/images/set"), Path("/images/set/p.jpg")) == Path("/images/set/p.txt")


def _label_file(root: Path) -> Path:
    return sorted((root / "labels" / "train").iterdir())[0]


def _yolo_line(change):
    def apply(root: Path) -> str:
        path = _label_file(root)
        lines = path.read_text().splitlines()
        lines[0] = change(lines[0].split())
        path.write_text("\n".join(lines) + "\n")
        return f"{path}: line 1"

    return apply


BAD_YOLO = {
    "too few values": (_yolo_line(lambda f: " ".join(f[:-1])), "55 values, expected 56"),
    "too many values": (_yolo_line(lambda f: " ".join(f + ["1"])), "57 values, expected 56"),
    "class out of range": (_yolo_line(lambda f: " ".join(["1"] + f[1:])), "class '1'"),
    "class not integer": (_yolo_line(lambda f: " ".join(["0.5"] + f[1:])), "class '0.5'"),
    "visibility 3": (_yolo_line(lambda f: " ".join(f[:7] + ["3"] + f[8:])), "keypoint 0: visibility '3'"),
    "nan": (_yolo_line(lambda f: " ".join(f[:5] + ["nan"] + f[6:])), "value 6: 'nan'"),
    "pixels not normalised": (_yolo_line(lambda f: " ".join(["0", "40", "30"] + f[3:])), "not normalised"),
    "zero width": (_yolo_line(lambda f: " ".join(f[:3] + ["0"] + f[4:])), "not normalised"),
}


@pytest.mark.parametrize("case", BAD_YOLO)
def test_yolo_bad_line_names_file_and_line(copy, case, caplog):
    root = copy("yolo")
    edit, match = BAD_YOLO[case]
    where = edit(root)
    with pytest.raises(DatasetError, match=match) as info:
        load_yolo_pose(root / "data.yaml")
    assert where in str(info.value)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        assert load_yolo_pose(root / "data.yaml", on_error="skip")["train"]
    [record] = caplog.records
    assert "skipped 1 bad sample" in record.getMessage() and where in record.getMessage()


def test_yolo_skip_drops_only_the_bad_line(copy, trees):
    root = copy("yolo")
    _yolo_line(lambda f: " ".join(f[:-1]))(root)
    assert len(_all(load_yolo_pose(root / "data.yaml", on_error="skip"))) == \
        len(_all(load_yolo_pose(trees["yolo"] / "data.yaml"))) - 1


def test_yolo_points_marked_2d_are_visible(copy):
    root = copy("yolo")
    for path in (root / "labels").rglob("*.txt"):
        lines = [f.split() for f in path.read_text().splitlines()]
        keep = [" ".join(f[:5] + [v for j, v in enumerate(f[5:]) if j % 3 != 2]) for f in lines]
        path.write_text("\n".join(keep) + "\n")
    spec = yaml.safe_load((root / "data.yaml").read_text())
    spec["kpt_shape"] = [17, 2]
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    d = load_yolo_pose(root / "data.yaml")
    assert all((s.visibility == 2).all() for s in _all(d))


def _yaml_with(root: Path, **changes) -> Path:
    spec = yaml.safe_load((root / "data.yaml").read_text())
    spec.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del spec[key]
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root / "data.yaml"


FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
BAD_YAML = {
    "flip not a permutation": ({"flip_idx": [0] * 17}, "flip_idx: flip index must be a permutation"),
    "flip too short": ({"flip_idx": FLIP[:-1]}, "permutation"),
    "flip not an involution": ({"flip_idx": [1, 2, 0] + FLIP[3:]}, "own inverse"),
    "flip missing": ({"flip_idx": None}, "missing flip_idx"),
    "kpt_shape": ({"kpt_shape": [17, 4]}, "kpt_shape"),
    "names": ({"names": {1: "person"}}, "numbered"),
    "path escapes": ({"path": "../elsewhere"}, "outside the YAML's folder"),
    "absolute path": ({"path": "/etc"}, "outside the YAML's folder"),
    "train escapes": ({"train": "../../../etc"}, "outside the dataset folder"),
    "val absolute": ({"val": "/tmp"}, "outside the dataset folder"),
    "train missing": ({"train": None}, "train must be"),
    "train a file": ({"train": "data.yaml"}, "not a folder or a .txt list"),
}


@pytest.mark.parametrize("case", BAD_YAML)
def test_yolo_bad_yaml_raises_naming_it(copy, case):
    root = copy("yolo")
    changes, match = BAD_YAML[case]
    path = _yaml_with(root, **changes)
    with pytest.raises(DatasetError, match=match) as info:
        load_yolo_pose(path, on_error="skip")
    assert "data.yaml" in str(info.value)


def test_yolo_yaml_is_read_safely(copy):
    root = copy("yolo")
    text = (root / "data.yaml").read_text()
    (root / "data.yaml").write_text(text + "evil: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(DatasetError, match="not valid YAML"):
        load_yolo_pose(root / "data.yaml")


def test_yolo_image_lists(copy):
    root = copy("yolo")
    images = sorted((root / "images" / "train").iterdir())
    (root / "train.txt").write_text("".join(f"./images/train/{p.name}\n" for p in images[:3]))
    d = load_yolo_pose(_yaml_with(root, train="train.txt"))
    assert {Path(s.path).name for s in d["train"]} <= {p.name for p in images[:3]} and d["train"]
    (root / "train.txt").write_text("../../etc/passwd.jpg\n")
    with pytest.raises(DatasetError, match="train.txt: line 1: .* outside the dataset folder"):
        load_yolo_pose(root / "data.yaml")
    (root / "train.txt").write_text(f"images/train/{images[0].name}\nimages/train/gone.jpg\n")
    with pytest.raises(DatasetError, match="train.txt: line 2: missing image"):
        load_yolo_pose(root / "data.yaml")
    assert load_yolo_pose(root / "data.yaml", on_error="skip")["train"]


def test_yolo_unlabelled_images_have_no_objects_and_foreign_images_are_named(copy, caplog):
    root = copy("yolo")
    before = len(load_yolo_pose(root / "data.yaml")["train"])
    label = _label_file(root)
    n_objects = len(label.read_text().splitlines())
    label.unlink()
    assert len(load_yolo_pose(root / "data.yaml")["train"]) == before - n_objects
    (root / "images" / "train" / "extra.webp").write_bytes(b"RIFF")
    with pytest.raises(DatasetError, match="extra.webp: fastkp reads JPEG and PNG"):
        load_yolo_pose(root / "data.yaml")


# ---- every reader: images that cannot be read ---------------------------------------------------


def _first_image(kind: str, root: Path) -> Path:
    pattern = {"300w": "*.jpg", "coco": "train2017/*.jpg", "dlc": "labeled-data/video1/*.png",
               "yolo": "images/train/*.jpg"}[kind]
    return sorted(root.rglob(pattern) if kind == "300w" else root.glob(pattern))[0]


@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("damage", ["missing", "not an image"])
def test_unusable_images_raise_or_are_skipped_with_one_log_line(copy, trees, kind, damage, caplog):
    root = copy(kind)
    image = _first_image(kind, root)
    image.unlink() if damage == "missing" else image.write_bytes(b"\xff\xd8 garbage")
    if kind == "yolo" and damage == "missing":
        return  # YOLO lists the images it finds: a removed image is simply not there
    with pytest.raises(DatasetError, match=image.stem):  # 300W names the .pts without its image
        LOADERS[kind](root)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = LOADERS[kind](root, on_error="skip")
    full = len(_all(LOADERS[kind](trees[kind])))
    assert 0 < full - len(_all(d)) <= 3  # the samples of that one image
    [record] = caplog.records
    assert image.stem in record.getMessage()


@pytest.mark.parametrize("kind", LOADERS)
def test_on_error_is_validated(trees, kind):
    with pytest.raises(ValueError, match="on_error"):
        LOADERS[kind](trees[kind], on_error="ignore")


@pytest.mark.parametrize("kind", ["300w", "coco", "dlc", "yolo"])
def test_command_line_writes_each_format(tmp_path, kind, capsys):
    assert cli([kind, str(tmp_path / kind), "--n", "3", "--size", "32x40"]) == 0
    d = LOADERS[kind](tmp_path / kind)
    assert _all(d) and all(s.size == (32, 40) for s in _all(d))
    assert kind in capsys.readouterr().out


@pytest.mark.parametrize("make", [make_300w, make_coco, make_dlc, make_yolo])
def test_generators_are_deterministic(tmp_path, make):
    a, b = make(tmp_path / "a", 3, seed=5, size=(32, 40)), make(tmp_path / "b", 3, seed=5, size=(32, 40))
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and files
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


# ---- the fast paths: samples in one batch, bounded reads, quick image headers --------------------


def test_keypoint_samples_match_one_call_per_record():
    rng = np.random.default_rng(0)
    h, w = 30, 41
    below_x, above_y = np.nextafter(np.float32(-w / 2), np.float32(-np.inf)), np.nextafter(np.float32(1.5 * h), np.inf)
    edges = [(-w / 2, 0), (1.5 * w, 1.5 * h), (below_x, 0), (0, above_y)]  # far-outside starts just past the first two
    records: list = []
    for i in range(80):
        points = rng.uniform(-0.52, 1.52, (5, 2)) * (w, h)
        visibility = rng.choice([0, 1, 2], 5, p=[0.3, 0.2, 0.5]) if i % 9 else np.zeros(5, np.int64)
        if i < len(edges):
            points[:], visibility[:] = 1, 2
            points[i % 5] = edges[i]
        records.append(DatasetError(f"record {i}: bad") if i % 11 == 5 else
                       (f"img{i}.png", (h, w), points, visibility, f"record {i}"))
    expected, errors = [], []
    for r in records:
        try:
            if isinstance(r, DatasetError):
                raise r
            expected.append(keypoint_sample(*r[:4], None, r[4]))
        except DatasetError as err:
            errors.append(str(err))
    assert [s.path for s in expected[:2]] == ["img0.png", "img1.png"]  # on the bounds
    assert "record 2: point 2 at" in errors[0] and "record 3: point 3 at" in errors[1]  # just past them
    assert sum("far outside" in e for e in errors) > 5 and sum("bad" in e for e in errors) == 7
    skipper = Skipper("skip", "test")
    samples = keypoint_samples(records, skipper)
    assert skipper.errors == errors and len(samples) == len(expected)
    for a, b in zip(samples, expected):
        assert a.path == b.path and a.size == b.size and a.box.dtype == np.float32
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.visibility, b.visibility)
        np.testing.assert_allclose(a.box, b.box, rtol=1e-6)
    with pytest.raises(DatasetError) as info:
        keypoint_samples(records, Skipper("raise", "test"))
    assert str(info.value) == errors[0]
    skipper = Skipper("skip", "test")
    assert keypoint_samples(records[5:6], skipper) == [] and skipper.errors == ["record 5: bad"]


def _far_then_missing(kind: str, root: Path) -> tuple[str, str]:
    """Make an early record's point far outside and a later record's image vanish."""
    if kind == "dlc":
        _dlc_set(4, 3, "9000")(root)
        _dlc_set(6, 2, "gone.png")(root)
        return "line 4", "line 6"
    first, later = sorted(root.rglob("*.pts"))[1], sorted(root.rglob("*.pts"))[4]
    first.write_text(_pts(["900 20"] + GOOD[1:]))
    next(p for p in later.parent.iterdir() if p.stem == later.stem and p.suffix != ".pts").unlink()
    return str(first), str(later)


@pytest.mark.parametrize("kind", ["300w", "dlc"])
def test_errors_come_in_record_order(copy, kind, caplog):
    root = copy(kind)
    first, later = _far_then_missing(kind, root)
    with pytest.raises(DatasetError, match="far outside") as info:
        LOADERS[kind](root)
    assert first in str(info.value)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        assert len(_all(LOADERS[kind](root, on_error="skip"))) == N - 2
    message = caplog.records[0].getMessage()
    assert "skipped 2 bad sample" in message and first in message.split(" | ")[0] and later in message.split(" | ")[1]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_read_bounded_folders_short_reads_and_growth(tmp_path):
    with pytest.raises(DatasetError, match="is a folder"):
        read_bounded(tmp_path, "annotation file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as f:
            for part in (b"ab", b"cd", b"ef"):
                f.write(part)
                f.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert read_bounded(fifo, "annotation file", limit=100) == b"abcdef"  # each read returns less than asked
    writer.join()
    if os.path.exists("/dev/zero"):  # no size, and it never ends
        with pytest.raises(DatasetError, match="over the limit of 100"):
            read_bounded("/dev/zero", "annotation file", limit=100)


def _image(fmt: str, mode: str = "RGB", **options) -> bytes:
    rng = np.random.default_rng(0)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)).convert(mode).save(out, fmt, **options)
    return out.getvalue()


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


QUICK = {  # case: (file, whether quick_header reads it rather than leaving it to PIL)
    "jpeg": (_image("JPEG"), True),
    "jpeg L": (_image("JPEG", "L"), True),
    "jpeg CMYK": (_image("JPEG", "CMYK"), True),
    "jpeg progressive": (_image("JPEG", progressive=True, optimize=True), True),
    "jpeg comment, restarts, dpi": (_image("JPEG", comment=b"hi", restart_marker_blocks=1, dpi=(300, 300)), True),
    "jpeg ICC": (_image("JPEG", icc_profile=b"\0" * 3000), True),
    "jpeg ICC past the probe": (_image("JPEG", icc_profile=b"\0" * 90_000), False),
    "jpeg EXIF": (_image("JPEG", exif=_exif(6)), False),
    **{f"png {mode}": (_image("PNG", mode), True) for mode in ("L", "LA", "P", "RGB", "RGBA")},
    "png dpi": (_image("PNG", dpi=(72, 72)), True),
    "png 1-bit": (_image("PNG", "1"), False),
    "png 16-bit": (_image("PNG", "I;16"), False),
    "png transparency": (_image("PNG", "P", transparency=0), False),
    "png EXIF": (_image("PNG", exif=_exif(8)), False),
}


@pytest.mark.parametrize("case", QUICK)
def test_quick_header_reads_what_pil_reads(tmp_path, case):
    data, quick = QUICK[case]
    path = tmp_path / "image.img"
    path.write_bytes(data)
    header = quick_header(str(path))
    assert (header is not None) == quick
    assert read_header(path) == pil_header(str(path)) == (header or pil_header(str(path)))
    assert read_header(path).size == ((41, 30) if "EXIF" in case else (30, 41))


def test_quick_header_leaves_images_over_the_limit_to_pil(tmp_path, monkeypatch):
    path = tmp_path / "image.jpg"
    path.write_bytes(QUICK["jpeg"][0])
    monkeypatch.setenv("FASTKP_MAX_PIXELS", "1000")
    assert quick_header(str(path)) is None
    with pytest.raises(DatasetError, match="41x30 is 1,230 pixels, more than the limit"):
        read_header(path)


_PLAIN = [data for data, quick in QUICK.values() if quick]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.sampled_from(_PLAIN), keep=st.one_of(st.none(), st.integers(0, 800)),
       edits=st.lists(st.tuples(st.one_of(st.integers(0, 64), st.integers(0, 800)), st.integers(0, 255)), max_size=4))
def test_quick_header_never_disagrees_with_pil(tmp_path, data, keep, edits):
    data = bytearray(data[:keep])
    for i, value in edits:
        if i < len(data):
            data[i] = value
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    header = quick_header(str(path))
    event("quick" if header else "PIL")
    if header is not None:
        assert header == pil_header(str(path))


# ---- garbage ------------------------------------------------------------------------------------

number = st.one_of(st.sampled_from(["1", "-2.5", "1e3", "nan", "inf", "1e999", "0x10", "", "abc"]),
                   st.floats(allow_nan=True).map(repr))
line = st.lists(number, max_size=4).map(" ".join)
pts_text = st.one_of(
    st.text(max_size=300),
    st.builds(lambda head, n, body, tail: f"{head}\nn_points: {n}\n{{\n" + "\n".join(body) + f"\n{tail}",
              st.sampled_from(["version: 1", "version:1", "version: 2", ""]), st.integers(-2, 5),
              st.lists(line, max_size=6), st.sampled_from(["}", "}\nx", "", "} "])),
)


@settings(max_examples=150, deadline=None)
@given(pts_text)
def test_parse_pts_garbage(text):
    try:
        points = parse_pts(text, "fuzz.pts")
    except DatasetError as err:
        event("DatasetError")
        assert "fuzz.pts" in str(err)
    else:
        event("read")
        assert points.ndim == 2 and points.shape[1] == 2 and np.isfinite(points).all()


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(
        ["id", "image_id", "category_id", "keypoints", "num_keypoints", "bbox", "iscrowd", "file_name", "width",
         "height", "images", "annotations", "categories"]), inner, max_size=6),
    max_leaves=30,
)


def _coco_like(draw_points, bbox, crowd, n, file_name):
    return json.dumps({
        "images": [{"id": 1, "file_name": file_name, "height": 10, "width": 10}],
        "categories": [{"id": 1, "keypoints": ["nose", "left_eye", "right_eye"]}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": crowd, "num_keypoints": n,
                         "keypoints": draw_points, "bbox": bbox}],
    })  # fmt: skip


coco_text = st.one_of(
    st.text(max_size=200),
    st.builds(json.dumps, json_value),
    st.builds(_coco_like, st.lists(st.one_of(st.integers(-1, 3), st.floats(allow_nan=False)), max_size=10),
              st.lists(st.floats(allow_nan=False), max_size=5), st.sampled_from([0, 1, 2, True, "0"]),
              st.integers(-1, 4), st.sampled_from(["a.jpg", "../a.jpg", "/a.jpg", "", "b/c.png"])),
)


@settings(max_examples=150, deadline=None)
@given(coco_text, st.binary(max_size=50), st.booleans())
def test_parse_coco_garbage(text, raw, use_raw):
    data = raw if use_raw else text.encode("utf-8", "surrogatepass")
    try:
        names, records = parse_coco(data, "fuzz.json", Skipper("skip", "fuzz"))
    except DatasetError as err:
        event("DatasetError")
        assert "fuzz.json" in str(err)
    else:
        event("read")
        for r in records:
            assert r.points.shape == (len(names), 2) and np.isfinite(r.points).all() and np.isfinite(r.box).all()


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


labels_text = st.one_of(st.text(max_size=300), st.lists(st.lists(number, min_size=5, max_size=12).map(" ".join),
                                                         max_size=4).map("\n".join))


@settings(max_examples=150, deadline=None)
@given(labels_text)
def test_parse_labels_garbage(text):
    skipper = Skipper("skip", "fuzz")
    objects = parse_labels(text, "fuzz.txt", 2, 3, 2, skipper)
    assert all("fuzz.txt" in e for e in skipper.errors)
    for _, values in objects:
        assert values.shape == (4 + 2 * 3,) and np.isfinite(values).all()
    with pytest.raises(DatasetError, match="fuzz.txt") if skipper.errors else _nothing():
        parse_labels(text, "fuzz.txt", 2, 3, 2, Skipper("raise", "fuzz"))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


yaml_text = st.one_of(
    st.text(max_size=200),
    st.builds(lambda v: yaml.safe_dump(v), json_value),
    st.builds(lambda shape, flip, names, train: yaml.safe_dump(
        {"kpt_shape": shape, "flip_idx": flip, "names": names, "train": train, "val": "v"}),
        st.one_of(st.just([2, 3]), st.just([2, 3]), st.lists(st.integers(-1, 4), max_size=3)),
        st.one_of(st.permutations([0, 1]), st.permutations([0, 1]), st.lists(st.integers(-1, 3), max_size=4)),
        st.one_of(st.just({0: "person"}), st.lists(st.text(max_size=3), max_size=2),
                  st.dictionaries(st.integers(-1, 2), st.text(max_size=2))),
        st.one_of(st.just("images/train"), st.text(max_size=5), st.lists(st.text(max_size=3), max_size=2))),
    st.sampled_from(["a: &x [*x]", "a: 2001-13-45", "a: !!binary zz", "a: !!python/name:os.system", "[" * 5000]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_text)
def test_parse_data_yaml_garbage(text):
    try:
        spec = parse_data_yaml(text, "fuzz.yaml")
    except DatasetError as err:
        event("DatasetError")
        assert "fuzz.yaml" in str(err)
    else:
        event("read")
        assert spec["flip_index"].shape == (spec["k"],) and spec["train"] and spec["val"]
