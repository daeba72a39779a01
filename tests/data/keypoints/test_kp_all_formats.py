"""What every keypoint reader shares (300W .pts, COCO keypoints, DeepLabCut CSV and
YOLO-pose): images that cannot be read, on_error, the generators and their command line,
and the fast paths: samples in one batch, errors in record order, bounded reads, quick
image headers."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from fastkp.data import DatasetError
from fastkp.data.images import pil_header, quick_header, read_header
from fastkp.data.keypoint_samples import keypoint_sample, keypoint_samples
from fastkp.data.on_error import Skipper
from fastkp.data.synth.__main__ import cli
from fastkp.data.synth.coco import make_coco
from fastkp.data.synth.dlc import make_dlc
from fastkp.data.synth.w300 import make_300w
from fastkp.data.synth.yolo import make_yolo
from fastkp.data.textio import read_bounded
from support.keypoints import GOOD, LOADERS, N, _all, _dlc_set, _pts


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
    for f in files:
        if f.suffix == ".h5":  # DeepLabCut's table; HDF5 stamps each array with its write time
            import pandas as pd

            assert pd.read_hdf(a / f).equals(pd.read_hdf(b / f))
        else:
            assert (a / f).read_bytes() == (b / f).read_bytes()


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


def test_annotation_files_over_the_limit_are_refused(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 101)
    with pytest.raises(DatasetError, match="over the limit of 100"):
        read_bounded(path, "annotation file", limit=100)
    assert read_bounded(path, "annotation file", limit=101) == b" " * 101


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
