"""Issue 24's data items, from folders crafted here: UTKFace's recursive search keeps to the
dataset folder; a truncated DIGITS LMDB is refused before it is mapped."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from fastkp.data import DatasetError, load_utkface
from fastkp.data.synth import make_agegender


@pytest.fixture
def faces(tmp_path) -> Path:
    return make_agegender(tmp_path / "faces", 6, seed=1, size=(32, 32), format="utkface")


def test_utkface_does_not_follow_a_folder_link_out_of_the_root(faces, tmp_path, caplog):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(next(faces.glob("*.jpg")), outside / "99_1_0_20170101000000001.jpg")
    os.symlink(outside, faces / "escape")
    (faces / "inside").mkdir()
    os.symlink(faces / "inside", faces / "alias")  # a link that stays inside is searched
    with pytest.raises(DatasetError, match=f"{faces / 'escape'}: a link to a folder outside the dataset folder"):
        load_utkface(faces)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_utkface(faces, on_error="skip")
    assert not any("99_1_0" in s.path for s in d.train + d.valid)
    assert len(d.train + d.valid) == 6
