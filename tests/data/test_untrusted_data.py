"""Data folders and images as untrusted input: symbolic-link loops, file names that leave
the image folder or sit in both splits, images over the pixel limit, NaN in JSON."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastkp.data import DatasetError, load_biwi, load_landmarks, load_pascal, read_header
from fastkp.data.pixels import DEFAULT_MAX_PIXELS, pixel_limit
from fastkp.data.synth import make_biwi, make_landmarks, make_pascal
from fastkp.heads.base import f32
from fastkp.pipeline.decode import decode_rgb


def loop(path) -> None:
    os.symlink(path.name, path)  # a link to itself


@pytest.mark.parametrize("where", ["root", "person"])
def test_symlink_loops_are_bad_input_naming_the_path(tmp_path, where):
    root = make_biwi(tmp_path / "biwi", persons=3, frames_per_person=3, size=(48, 64))
    bad = root / "05" if where == "root" else root / "01" / "frame_00099_rgb.jpg"
    loop(bad)
    loop(root / "notes.txt")  # not a name the reader looks at: never examined
    with pytest.raises(DatasetError, match=f"{bad}: cannot be examined"):
        load_biwi(root)
    d = load_biwi(root, on_error="skip")
    train, valid = d.train, d.valid
    assert len(train) == 6 and len(valid) == 3


def pascal_rows(tmp_path, rows: list[str]):
    root = make_pascal(tmp_path / "voc", n_images=6, size=(32, 32))
    lines = (root / "train.csv").read_text().splitlines()
    (root / "train.csv").write_text("\n".join(lines + rows) + "\n")
    return root, len(lines) + 1


@pytest.mark.parametrize("fname, says", [("/etc/passwd", "absolute path"), ("../voc/train/000000.jpg", "'..'"),
                                         ("sub/../../x.jpg", "'..'"), ("C:\\x.jpg", "absolute path")])
def test_file_names_must_stay_in_the_image_folder(tmp_path, fname, says):
    root, line = pascal_rows(tmp_path, [f"{fname},cat,False"])
    with pytest.raises(DatasetError, match=rf"train.csv: line {line}: fname .*{says}"):
        load_pascal(root)
    load_pascal(root, on_error="skip")  # the other rows still read


def test_one_file_in_both_splits_is_refused(tmp_path):
    root = make_pascal(tmp_path / "voc", n_images=6, size=(32, 32))
    rows = (root / "train.csv").read_text().splitlines()
    fname, labels, is_valid = rows[1].split(",")
    flipped = {"True": "False", "False": "True"}[is_valid]
    (root / "train.csv").write_text("\n".join(rows + [f"{fname},{labels},{flipped}"]) + "\n")
    with pytest.raises(DatasetError, match=f"line {len(rows) + 1}: {fname} is also on line 2, in the other split"):
        load_pascal(root)

    lm = make_landmarks(tmp_path / "lm", n_images=6, k=5, size=(32, 32))
    rows = (lm / "landmarks.csv").read_text().splitlines()
    (lm / "landmarks.csv").write_text("\n".join(rows + [rows[1]]) + "\n")
    with pytest.raises(DatasetError, match="is also on line 2"):
        load_landmarks(lm)


def huge_header(path, fmt: str) -> None:
    """A tiny file whose header claims 13000x13000 pixels."""
    Image.new("RGB", (8, 8)).save(path, fmt)
    data = bytearray(path.read_bytes())
    if fmt == "PNG":  # IHDR width/height at bytes 16..24, then its CRC
        data[16:24] = (13000).to_bytes(4, "big") * 2
        data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    else:  # SOF0 height, width
        at = data.index(b"\xff\xc0") + 5
        data[at:at + 4] = (13000).to_bytes(2, "big") * 2
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_images_over_the_pixel_limit_are_refused_from_the_header(tmp_path, monkeypatch, fmt):
    path = tmp_path / f"huge.{fmt.lower()}"
    huge_header(path, fmt)
    assert pixel_limit() == DEFAULT_MAX_PIXELS == 100_000_000
    for read in (read_header, decode_rgb):
        with pytest.raises(DatasetError, match="169,000,000 pixels, more than the limit of 100,000,000 pixels"):
            read(str(path))
    monkeypatch.setenv("FASTKP_MAX_PIXELS", "50")
    small = tmp_path / "small.png"
    Image.new("RGB", (8, 8)).save(small)
    with pytest.raises(DatasetError, match="64 pixels, more than the limit of 50 pixels"):
        read_header(small)


def test_predict_goes_on_after_a_huge_image_and_never_prints_nan(tmp_path, capsys, monkeypatch):
    from fastkp.export import export_checkpoint
    from fastkp.predict import cli
    from support.images import random_pixels, write_ppm
    from support.models import make_checkpoint

    monkeypatch.setenv("FASTKP_MAX_PIXELS", str(DEFAULT_MAX_PIXELS))  # restored after --max-pixels sets it
    model = tmp_path / "m.pt"
    export_checkpoint(make_checkpoint(tmp_path / "m.pth", True, size=(32, 32)), model)
    huge_header(tmp_path / "a_huge.png", "PNG")
    good = write_ppm(tmp_path / "b_good.ppm", random_pixels(20, 30))
    assert cli([str(model), str(tmp_path / "a_huge.png"), str(good)]) == 1
    out, err = capsys.readouterr()
    assert "a_huge.png: " in err and "13000x13000" in err and json.loads(out)["image"] == str(good)
    assert cli([str(model), str(good), "--max-pixels", "10"]) == 1
    err = capsys.readouterr().err
    assert "b_good.ppm: " in err and "more than 10 pixels" in err.replace("the limit of ", "")
    assert json.dumps([f32(np.nan), f32(np.inf), f32(0.1)], allow_nan=False) == "[null, null, 0.1]"


def corrupt_jpeg(path) -> None:
    """A JPEG that PIL decodes silently but libjpeg reports as corrupt (bytes before EOI)."""
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    path.write_bytes(data[:-2] + b"\x12\x34\x56" + data[-2:])
    Image.open(path).load()  # PIL alone would use it


def test_corrupt_pixels_are_never_used_silently(tmp_path, monkeypatch, capsys):
    from fastkp.data import verification, verify

    monkeypatch.setenv("FASTKP_CACHE", str(tmp_path / "cache"))
    root = make_biwi(tmp_path / "biwi", persons=3, frames_per_person=4, size=(48, 64))
    d = load_biwi(root)
    train = d.train
    corrupt_jpeg(Path(train[1].path))
    with pytest.raises(DatasetError, match=f"{train[1].path}: corrupt JPEG"):
        verify(train)
    assert [s.path for s in verify(train, on_error="skip")] == [s.path for s in train if s is not train[1]]
    calls = []
    checker = verification._checker()
    real = checker.verify_images
    monkeypatch.setattr(checker, "verify_images", lambda paths, *a, **k: calls.append(paths) or real(paths, *a, **k))
    verify(train, on_error="skip")
    assert calls == [[train[1].path]]  # the good files passed before: cached by (path, size, mtime)



def test_training_and_predict_refuse_corrupt_pixels(tmp_path, capsys):
    import subprocess
    import sys

    from fastkp.export import export_checkpoint
    from fastkp.predict import cli
    from support.models import make_checkpoint

    root = make_biwi(tmp_path / "biwi", persons=3, frames_per_person=10, size=(48, 64))
    bad = sorted((root / "01").glob("*_rgb.jpg"))[2]
    corrupt_jpeg(bad)
    env = {**os.environ, "FASTKP_CACHE": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "fastkp.train", "--data", str(root), "--size", "32", "--bs", "4", "--threads", "1",
            "--epochs", "0", "--freeze-epochs", "1", "--schedule", "fine_tune"]
    res = subprocess.run([*args, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2 and f"{bad}: corrupt JPEG" in res.stderr.strip().splitlines()[-1]
    res = subprocess.run([*args, "--out", str(tmp_path / "b"), "--on-error", "skip"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0 and "skipped 1 bad sample(s)" in res.stderr, res.stderr[-2000:]

    model = tmp_path / "m.pt"
    export_checkpoint(make_checkpoint(tmp_path / "m.pth", True, size=(32, 32)), model)
    assert cli([str(model), str(bad)]) == 1
    assert f"{bad}: corrupt JPEG" in capsys.readouterr().err


def test_verify_names_a_file_name_that_is_not_utf8_and_keeps_checking_the_others(tmp_path, monkeypatch):
    from fastkp.data import check_images

    monkeypatch.setenv("FASTKP_CACHE", "")  # empty: the default folder, never the working directory
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "good.png"
    Image.new("RGB", (8, 8)).save(good)
    odd = os.fsdecode(bytes(tmp_path) + b"/\xff.png")
    Path(odd).write_bytes(good.read_bytes())
    assert check_images([odd, str(good)]) == [f"{os.fsencode(odd)!r}: the file name is not valid UTF-8", None]
    assert (tmp_path / "home/.cache/fastkp/verified-v1.json").is_file() and not list(tmp_path.glob("*.json"))


def test_max_pixels_from_the_environment_must_be_ascii_digits(monkeypatch):
    from fastkp.errors import UsageError

    monkeypatch.setenv("FASTKP_MAX_PIXELS", "²")
    with pytest.raises(UsageError, match="positive integer"):
        pixel_limit()
