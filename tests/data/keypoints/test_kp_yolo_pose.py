"""YOLO-pose: the generator's labels and data.yaml read back, label paths, bad lines and
YAML, image lists, and the fuzzed parsers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fastkp.data import DatasetError
from fastkp.data.on_error import Skipper
from fastkp.data.synth.coco import COCO_NAMES
from fastkp.data.yolo import label_path, load_yolo_pose, parse_data_yaml, parse_labels
from support.keypoints import SIZE, _all, _check_samples, json_value, number


def test_yolo_round_trip(trees):
    root = trees["yolo"]
    d = load_yolo_pose(root / "data.yaml")
    _check_samples(d, 17)
    assert list(d.meta.point_names) == list(COCO_NAMES)
    spec = yaml.safe_load((root / "data.yaml").read_text())
    assert np.array(d.meta.flip_index).tolist() == spec["flip_idx"]
    h, w = SIZE
    i = 0
    for split, samples in (("train", d.train), ("val", d.valid)):
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
            assert s.area == pytest.approx(0.53 * bw * bh) and s.source is None  # Ultralytics' OKS area
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
        assert load_yolo_pose(root / "data.yaml", on_error="skip").train
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
    assert {Path(s.path).name for s in d.train} <= {p.name for p in images[:3]} and d.train
    (root / "train.txt").write_text("../../etc/passwd.jpg\n")
    with pytest.raises(DatasetError, match="train.txt: line 1: .* outside the dataset folder"):
        load_yolo_pose(root / "data.yaml")
    (root / "train.txt").write_text(f"images/train/{images[0].name}\nimages/train/gone.jpg\n")
    with pytest.raises(DatasetError, match="train.txt: line 2: missing image"):
        load_yolo_pose(root / "data.yaml")
    assert load_yolo_pose(root / "data.yaml", on_error="skip").train


def test_yolo_unlabelled_images_have_no_objects_and_foreign_images_are_named(copy, caplog):
    root = copy("yolo")
    before = len(load_yolo_pose(root / "data.yaml").train)
    label = _label_file(root)
    n_objects = len(label.read_text().splitlines())
    label.unlink()
    assert len(load_yolo_pose(root / "data.yaml").train) == before - n_objects
    (root / "images" / "train" / "extra.webp").write_bytes(b"RIFF")
    with pytest.raises(DatasetError, match="extra.webp: fastkp reads JPEG and PNG"):
        load_yolo_pose(root / "data.yaml")


# ---- garbage ------------------------------------------------------------------------------------

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
