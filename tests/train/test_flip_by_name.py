"""--flip-json reaches the readers that pair points by name (DeepLabCut, COCO): a sided
name without its mirror, an error on its own, trains once the file gives the permutation."""

from __future__ import annotations

import json

import pytest

from fastkp.config import resolve
from fastkp.data import DatasetError
from fastkp.data.synth.dlc import make_dlc
from fastkp.dataloaders import DataLoaders

TINY = dict(size=32, bs=4, threads=1, progress=False)


def test_flip_json_pairs_what_the_names_cannot(tmp_path):
    root = make_dlc(tmp_path / "dlc", 16, size=(64, 64))
    for table in root.rglob("CollectedData_*.*"):
        if table.suffix == ".h5":
            table.unlink()  # the CSV carries the edit
        else:
            table.write_text(table.read_text().replace("right_hindpaw", "tail_mid"))
    config = root / "config.yaml"
    config.write_text(config.read_text().replace("right_hindpaw", "tail_mid"))
    with pytest.raises(DatasetError, match="'left_hindpaw' has no mirror point 'right_hindpaw'"):
        DataLoaders.from_folder(resolve("keypoints", root, format="dlc", **TINY))
    names = ["snout", "leftear", "rightear", "L_forepaw", "R_forepaw", "left_hindpaw", "tail_mid", "tailbase",
             "tail_tip"]
    flip = tmp_path / "flip.json"
    flip.write_text(json.dumps({"flip_index": [0, 2, 1, 4, 3, 5, 6, 7, 8], "names": names}))
    data = DataLoaders.from_folder(resolve("keypoints", root, format="dlc", flip_json=flip, **TINY))
    assert data.heads[0].flip_index == [0, 2, 1, 4, 3, 5, 6, 7, 8]
