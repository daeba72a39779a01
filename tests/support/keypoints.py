"""Shared by the keypoint-format tests (data/keypoints/): the four readers by name, the
checks every reader's samples pass, and the .pts text, DLC CSV edits and hypothesis
strategies more than one format's tests use."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from fastkp.data import Dataset
from fastkp.data.coco import load_coco
from fastkp.data.dlc import load_dlc
from fastkp.data.w300 import load_300w
from fastkp.data.yolo import load_yolo_pose

N, SIZE = 12, (64, 80)


LOADERS = {
    "300w": load_300w,
    "coco": load_coco,
    "dlc": load_dlc,
    "yolo": lambda root, **kw: load_yolo_pose(root / "data.yaml", **kw),
}


def _all(d: Dataset) -> list:
    return d.train + d.valid


def _check_samples(d: Dataset, k: int) -> None:
    assert isinstance(d, Dataset) and d.meta.flip_index is not None and d.train and d.valid
    flip = np.array(d.meta.flip_index)
    assert flip.dtype == np.int64 and sorted(flip.tolist()) == list(range(k)) and (flip[flip] == np.arange(k)).all()
    assert len(d.meta.point_names) == k
    for s in _all(d):
        assert s.keypoints.shape == (k, 2) and s.keypoints.dtype == np.float32
        assert s.visibility.shape == (k,) and s.visibility.dtype == np.int8
        assert s.box.shape == (4,) and s.box.dtype == np.float32 and (s.box[2:] > s.box[:2]).all()
        assert np.isin(s.visibility, (0, 1, 2)).all()
        assert (np.isnan(s.keypoints[:, 0]) == (s.visibility == 0)).all()
        assert s.size == SIZE


def _pts(points: list[str], header: str = "version: 1\nn_points: 68\n{\n") -> str:
    return header + "\n".join(points) + "\n}\n"


GOOD = [f"{10 + i % 20}.5 {20 + i // 20}.25" for i in range(68)]


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


number = st.one_of(st.sampled_from(["1", "-2.5", "1e3", "nan", "inf", "1e999", "0x10", "", "abc"]),
                   st.floats(allow_nan=True).map(repr))


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(
        ["id", "image_id", "category_id", "keypoints", "num_keypoints", "bbox", "iscrowd", "file_name", "width",
         "height", "images", "annotations", "categories"]), inner, max_size=6),
    max_leaves=30,
)
