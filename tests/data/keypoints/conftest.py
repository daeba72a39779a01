"""The keypoint-format tests' trees: one generated tree of each format per test module
(read only), and ``copy(kind)``, a fresh copy of one to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fastkp.data.synth.coco import make_coco
from fastkp.data.synth.dlc import make_dlc
from fastkp.data.synth.w300 import make_300w
from fastkp.data.synth.yolo import make_yolo
from support.keypoints import N, SIZE


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
