"""DIGITS importer: LMDB pairs written as DIGITS's test_lmdb_creator.py writes them, read
back through load_values; raw and encoded, grayscale and colour; errors naming DB and key."""

from __future__ import annotations

import csv
import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fastkp
from fastkp.data import DatasetError, load_values
from fastkp.data.digits import cli, datum_class, import_digits
from fastkp.errors import UsageError

lmdb = pytest.importorskip("lmdb")
pytest.importorskip("google.protobuf")

H, W = 10, 12


def _varint(n: int) -> bytes:
    out = b""
    while n > 0x7F:
        out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
    return out + bytes([n])


def datum(channels=0, height=0, width=0, data=b"", float_data=(), encoded=False) -> bytes:
    """A Caffe Datum encoded by hand (proto2 wire format, fields in number order), so
    that the importer's run-time descriptor is checked against Caffe's field numbers."""
    out = b"".join(_varint(n << 3) + _varint(v) for n, v in ((1, channels), (2, height), (3, width)) if v)
    out += _varint(4 << 3 | 2) + _varint(len(data)) + data if data else b""
    out += b"".join(_varint(6 << 3 | 5) + struct.pack("<f", v) for v in float_data)
    return out + (_varint(7 << 3) + b"\x01" if encoded else b"")


def _png(image: np.ndarray, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=format)
    return buffer.getvalue()


def _write(path: Path, records: dict[str, bytes]) -> Path:
    with lmdb.open(str(path), map_size=1 << 22) as env, env.begin(write=True) as txn:
        for key, value in records.items():
            txn.put(key.encode(), value)
    return path


def create_lmdbs(folder: Path, count: int, colour: bool = False, encoded: bool = True, seed: int = 0):
    """As test_lmdb_creator.py: linear images with slopes from U(-0.5, 0.5), keys str(i),
    labels (1, 1, 2) datums of float_data [xslope, yslope]. Returns {phase: [(image, slopes)]}."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W].astype(float)
    made = {}
    for phase, n in (("train", count), ("val", max(2, count // 4))):
        images, labels, made[phase] = {}, {}, []
        for i in range(n):
            xslope, yslope = rng.random(2) - 0.5
            image = (xslope * 255 / W * (xx - W / 2) + yslope * 255 / H * (yy - H / 2) + 127.5).astype(np.uint8)
            if colour:
                image = np.stack([image, 255 - image, image // 2], axis=-1)
            if encoded:
                images[str(i)] = datum(1 + 2 * colour, H, W, _png(image), encoded=True)
            else:  # raw: channel-first planes, colour in BGR order
                planes = image[..., ::-1].transpose(2, 0, 1) if colour else image
                images[str(i)] = datum(1 + 2 * colour, H, W, planes.tobytes())
            labels[str(i)] = datum(1, 1, 2, float_data=(xslope, yslope))
            made[phase].append((str(i), image, np.float32([xslope, yslope])))
        _write(folder / f"{phase}_images", images)
        _write(folder / f"{phase}_labels", labels)
    return made


def _pairs(folder: Path, valid: bool = True):
    train = (folder / "train_images", folder / "train_labels")
    return train, (folder / "val_images", folder / "val_labels") if valid else None


def test_hand_encoded_datum_matches_the_runtime_descriptor():
    d = datum_class().FromString(datum(3, 4, 5, b"xyz", (0.5, -1.0), encoded=True))
    got = (d.channels, d.height, d.width, d.data, list(d.float_data), d.encoded)
    assert got == (3, 4, 5, b"xyz", [0.5, -1.0], True)


@pytest.mark.parametrize("colour", [False, True], ids=["gray", "colour"])
@pytest.mark.parametrize("encoded", [True, False], ids=["encoded", "raw"])
def test_import_round_trip(tmp_path, colour, encoded):
    made = create_lmdbs(tmp_path, 9, colour=colour, encoded=encoded)
    assert import_digits(*_pairs(tmp_path), tmp_path / "out", names=["gx", "gy"])[:2] == (9, 2)
    d = load_values(tmp_path / "out")
    train, valid, names = d.train, d.valid, list(d.meta.value_names)
    assert names == ["gx", "gy"] and (len(train), len(valid)) == (9, 2)
    for phase, samples in (("train", train), ("val", valid)):
        for (key, image, slopes), sample in zip(sorted(made[phase], key=lambda m: m[0]), samples):  # key order
            np.testing.assert_array_equal(sample.values, slopes)
            with Image.open(sample.path) as im:
                assert im.format == "PNG" and im.mode == ("RGB" if colour else "L")
                np.testing.assert_array_equal(np.asarray(im), image)
            assert sample.size == (H, W)


def test_jpeg_encoded_and_no_validation_pair(tmp_path):
    image = np.full((H, W, 3), (200, 30, 60), np.uint8)
    _write(tmp_path / "img", {f"{i:03d}": datum(3, H, W, _png(image, "JPEG"), encoded=True) for i in range(5)})
    _write(tmp_path / "lab", {f"{i:03d}": datum(float_data=(i, 2 * i, 3 * i)) for i in range(5)})
    assert import_digits((tmp_path / "img", tmp_path / "lab"), None, tmp_path / "out") == (5, 0, ["v0", "v1", "v2"])
    lines = (tmp_path / "out/labels.csv").read_text().splitlines()
    assert lines[:3] == ["fname,v0,v1,v2", "train_000000.png,0.0,0.0,0.0", "train_000001.png,1.0,2.0,3.0"]
    d = load_values(tmp_path / "out")  # the default split
    train, valid, names = d.train, d.valid, list(d.meta.value_names)
    assert (len(train), len(valid)) == (4, 1)
    assert np.abs(np.asarray(Image.open(train[0].path), float) - image).max() < 8


# ---- bad input ---------------------------------------------------------------------------------


def _break(case: str, folder: Path) -> tuple[str, str]:
    """Damage one database; returns (database name, key) the error must name."""
    images, labels = folder / "train_images", folder / "train_labels"
    edits = {
        "missing label": (labels, "3", None),
        "extra label": (labels, "99", datum(float_data=(0.1, 0.2))),
        "not a datum": (images, "4", b"\xff\xff\xff"),
        "short vector": (labels, "5", datum(float_data=(0.1,))),
        "no vector": (labels, "5", datum(1, 1, 2)),
        "nan": (labels, "5", datum(float_data=(float("nan"), 0.0))),
        "cut raw": (images, "6", datum(1, H, W, b"\x00" * (H * W - 1))),
        "4 channels": (images, "6", datum(4, H, W, b"\x00" * (4 * H * W))),
        "bad png": (images, "7", datum(1, H, W, b"\x89PNG\r\n\x1a\n garbage", encoded=True)),
    }
    db, key, value = edits[case]
    with lmdb.open(str(db)) as env, env.begin(write=True) as txn:
        txn.delete(key.encode()) if value is None else txn.put(key.encode(), value)
    return db.name, key


@pytest.mark.parametrize("case", ["missing label", "extra label", "not a datum", "short vector", "no vector", "nan",
                                  "cut raw", "4 channels", "bad png"])  # fmt: skip
def test_bad_record_names_db_and_key_and_leaves_nothing(tmp_path, case):
    create_lmdbs(tmp_path, 9)
    db, key = _break(case, tmp_path)
    with pytest.raises(DatasetError) as info:
        import_digits(*_pairs(tmp_path), tmp_path / "out")
    assert db in str(info.value) and f"key '{key}'" in str(info.value)
    assert not (tmp_path / "out").exists()
    (tmp_path / "empty").mkdir()  # a folder that was there stays, empty
    with pytest.raises(DatasetError):
        import_digits(*_pairs(tmp_path), tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.parametrize("encoded", [True, False], ids=["encoded", "raw"])
def test_pixel_limit(tmp_path, monkeypatch, encoded):
    create_lmdbs(tmp_path, 2, encoded=encoded)
    monkeypatch.setenv("FASTKP_MAX_PIXELS", str(H * W - 1))
    with pytest.raises(DatasetError, match=f"train_images: key '0': {W}x{H} is {H * W} pixels, more than the limit"):
        import_digits(*_pairs(tmp_path), tmp_path / "out")


def test_vector_length_differs_between_pairs(tmp_path):
    create_lmdbs(tmp_path, 5)
    _write(tmp_path / "val_labels", {str(i): datum(float_data=(1.0, 2.0, 3.0)) for i in range(2)})
    with pytest.raises(DatasetError, match=r"val_labels: key '0': label vector of 3 values, expected 2"):
        import_digits(*_pairs(tmp_path), tmp_path / "out")


def test_dataset_level_problems(tmp_path):
    create_lmdbs(tmp_path, 3)
    train, valid = _pairs(tmp_path)
    with pytest.raises(DatasetError, match="nowhere: missing LMDB"):
        import_digits((tmp_path / "nowhere", train[1]), None, tmp_path / "a")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty: not a readable LMDB"):
        import_digits((tmp_path / "empty", train[1]), None, tmp_path / "b")
    _write(tmp_path / "none", {})
    with pytest.raises(DatasetError, match="none: no records"):
        import_digits((tmp_path / "none", train[1]), None, tmp_path / "c")
    with pytest.raises(UsageError, match="not an empty folder"):
        import_digits(train, None, tmp_path)
    with pytest.raises(DatasetError, match="expected 3 .a, b, c."):
        import_digits(train, None, tmp_path / "d", names=["a", "b", "c"])
    for names in (["a", "a"], ["fname", "b"], [" a", "b"], ["", "b"]):
        with pytest.raises(UsageError, match="value names"):
            import_digits(train, None, tmp_path / "e", names=names)


# ---- command line ------------------------------------------------------------------------------


def test_cli_module_writes_the_layout(tmp_path):
    create_lmdbs(tmp_path, 4)
    env = {**os.environ, "PYTHONPATH": str(Path(fastkp.__file__).parents[1])}
    paths = [str(p) for pair in _pairs(tmp_path) for p in pair]
    done = subprocess.run([sys.executable, "-m", "fastkp.data.digits", *paths, str(tmp_path / "out"),
                           "--names", "gx,gy"], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 4 training and 2 validation records (gx, gy)")
    with open(tmp_path / "out/labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["fname", "gx", "gy", "is_valid"] and [r[3] for r in rows[1:]] == ["False"] * 4 + ["True"] * 2


@pytest.mark.parametrize("argv, message", [
    (["a", "b", "c", "d"], "got 4 paths"),
    (["nowhere", "b", "OUT"], "nowhere: missing LMDB database"),
])  # fmt: skip
def test_cli_errors_are_one_line_exit_2(tmp_path, capsys, argv, message):
    argv = [str(tmp_path / a) for a in argv]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastkp.data.digits: error: ") and message in err and err.count("\n") == 1
