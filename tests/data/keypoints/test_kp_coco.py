"""COCO keypoints: the generator's JSON read back, hand-made edge cases, bad and hostile
annotations and files, and the fuzzed parser."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fastkp.data import DatasetError
from fastkp.data.coco import COCO_SHIFT, load_coco, parse_coco
from fastkp.data.on_error import Skipper
from fastkp.data.synth.coco import COCO_NAMES
from support.keypoints import SIZE, _all, _check_samples, json_value


def _coco_json(root: Path, split: str = "train") -> tuple[Path, dict]:
    path = root / "annotations" / f"person_keypoints_{split}2017.json"
    return path, json.loads(path.read_text())


def test_coco_round_trip(trees):
    root = trees["coco"]
    d = load_coco(root)
    _check_samples(d, 17)
    assert list(d.meta.point_names) == list(COCO_NAMES) and np.array(d.meta.flip_index)[:5].tolist() == [0, 2, 1, 4, 3]
    for split, samples in (("train", d.train), ("val", d.valid)):
        path, spec = _coco_json(root, split)
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
            assert s.area == a["area"] < 0.5 * w * h  # the drawn person's pixels, as COCO's segment area
            assert s.source == {"file": str(path), "id": a["id"], "image_id": a["image_id"], "category_id": 1}
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
    "NUL in file_name": (lambda a, s: _image_of(a, s).__setitem__("file_name", "a\0b.jpg"), "NUL byte"),
    "missing image": (lambda a, s: _image_of(a, s).__setitem__("file_name", "nope.jpg"), "nope.jpg: missing"),
    "size mismatch": (lambda a, s: _image_of(a, s).__setitem__("width", 81), "the JSON says 81x64"),
    "far outside": (_point(3, 500, 5, 2), "point 3 at"),
    "area 0": (_set("area", 0), "area 0 must be a positive number"),
    "area string": (_set("area", "812.5"), "area '812.5' must be"),
    # out of the float32 range the models take, or of float64 itself: one line, not a traceback
    "bbox 1e300": (lambda a, s: a["bbox"].__setitem__(2, 1e300), r"bbox \[.*\]: a value is out of range"),
    "keypoint beyond float64": (lambda a, s: a["keypoints"].__setitem__(0, 10**400), "keypoints: a value is out"),
    "area beyond float64": (_set("area", 10**400), "area: a value is out of range"),
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
    assert d.train


def test_coco_crowd_and_empty_annotations_are_not_samples(copy):
    root = copy("coco")
    before = len(load_coco(root).train)
    _coco_edit(root, lambda a, s: (a.__setitem__("iscrowd", 1), a.pop("num_keypoints")), 0)
    _coco_edit(root, lambda a, s: (a.__setitem__("keypoints", [0] * 51), a.__setitem__("num_keypoints", 0)), 1)
    assert len(load_coco(root).train) == before - 2


def test_coco_unlabelled_and_occluded_points(copy):
    root = copy("coco")
    ann_id = _coco_edit(root, lambda a, s: (_point(0, 0, 0, 0)(a, s), _point(5, 7, 8, 1)(a, s)))
    _, spec = _coco_json(root)
    index = [a["id"] for a in spec["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0].index(ann_id)
    s = load_coco(root).train[index]
    assert np.isnan(s.keypoints[0]).all() and s.visibility[0] == 0
    assert s.keypoints[5].tolist() == [7.5, 8.5] and s.visibility[5] == 1


def test_coco_missing_area_is_the_boxs_with_a_warning(copy, caplog):
    root = copy("coco")
    ann_id = _coco_edit(root, lambda a, s: a.pop("area"))
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_coco(root)
    (record,) = caplog.records
    assert f"train2017.json: 1 annotation(s) without area (first: id {ann_id}): OKS takes" in record.getMessage()
    s = next(s for s in d.train if s.source["id"] == ann_id)
    x0, y0, x1, y1 = s.box.astype(np.float64)
    assert s.area == pytest.approx((x1 - x0) * (y1 - y0), rel=1e-6)


def test_coco_val_only_folder_is_for_evaluation(copy, tmp_path, capsys):
    """COCO's val set alone: no training split, the val samples as they were; training refuses it."""
    from fastkp.train import cli

    root = copy("coco")
    full = load_coco(root)
    (root / "annotations" / "person_keypoints_train2017.json").unlink()
    d = load_coco(root)
    assert d.train == [] and [s.source for s in d.valid] == [s.source for s in full.valid]
    assert d.meta.split == "the val2017 annotation file, only val (no person_keypoints_train*.json: evaluation only)"
    assert cli(["--task", "keypoints", "--format", "coco", "--data", str(root), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (f"fastkp.train: error: {root}: no training annotations, only {len(d.valid)} "
                                       "validation samples: evaluate them with python -m fastkp.evaluate, or train "
                                       "on data with a train split\n")


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


# ---- garbage ------------------------------------------------------------------------------------

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
