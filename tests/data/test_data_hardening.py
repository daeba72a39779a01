"""Issue 24's data items, from folders crafted here: UTKFace's recursive search keeps to the
dataset folder; a truncated DIGITS LMDB is refused before it is mapped."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
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


def _lmdb(path: Path, records: dict[bytes, bytes]) -> Path:
    lmdb = pytest.importorskip("lmdb")
    path.mkdir(parents=True)
    with lmdb.open(str(path), map_size=1 << 24) as env, env.begin(write=True) as txn:
        for key, value in records.items():
            txn.put(key, value)
    return path


def _digits_pair(folder: Path, count: int = 64) -> tuple[Path, Path]:
    from fastkp.data.digits import datum_class

    datum = datum_class()
    image = datum(channels=1, height=16, width=16, data=bytes(range(256)), encoded=False).SerializeToString()
    images = _lmdb(folder / "images", {b"%04d" % i: image for i in range(count)})
    labels = _lmdb(folder / "labels", {b"%04d" % i: datum(float_data=[i, 2.0]).SerializeToString()
                                       for i in range(count)})
    return images, labels


def test_truncated_lmdb_is_refused_and_a_rerun_is_not_blocked(tmp_path):
    from fastkp.data.digits import import_digits

    images, labels = _digits_pair(tmp_path / "good")
    cut = Path(shutil.copytree(tmp_path / "good", tmp_path / "cut"))
    data = cut / "images" / "data.mdb"
    os.truncate(data, 3 * 4096)  # the two meta pages and one more: records past it are gone
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "fastkp.data.digits", str(cut / "images"), str(cut / "labels"),
                           str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr  # not SIGBUS (-7)
    assert f"{data}: truncated LMDB database" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
    assert import_digits((images, labels), None, out)[:2] == (64, 0)
    assert len(list((out / "images").iterdir())) == 64
