"""Decoding in both loaders: EXIF orientation, colour modes, and errors that name the file."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from fastkp.data import DatasetError, Sample
from fastkp.pipeline import build_loader, denormalize_points
from fastkp.pipeline import decode, reference

OUT = (48, 64)
LOADERS = {"dali": build_loader, "reference": reference.build_loader}
# the stored pixels that PIL's exif_transpose turns back into the displayed image
UNDO = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def displayed(hw=(60, 90)) -> tuple[Image.Image, np.ndarray]:
    """An asymmetric picture: dark, a bright square near the top-left corner, a grey bar."""
    a = np.full((*hw, 3), 30, np.uint8)
    a[10:20, 12:22] = 240
    a[hw[0] - 15 :, hw[1] // 2 :] = (200, 120, 40)
    return Image.fromarray(a), np.array([[17.0, 15.0]], np.float32)  # centre of the square


def save(im: Image.Image, path, fmt="JPEG", **kw) -> str:
    im.save(path, fmt, **kw)
    return str(path)


def load(kind: str, samples, **kw):
    """Every batch of one validation epoch (the reference loader in-process)."""
    kw = dict(size=OUT, train=False, num_threads=0 if kind == "reference" else 2, **kw)
    return list(LOADERS[kind](samples, **kw))


def compare_loaders(samples, **kw):
    kw = dict(size=OUT, batch_size=len(samples), train=False, **kw)
    a = next(iter(build_loader(samples, **kw)))
    b = next(iter(reference.build_loader(samples, num_threads=0, **kw)))
    assert torch.equal(a["keypoints"], b["keypoints"]) if "keypoints" in a else True
    return a, b


def test_exif_orientation_decodes_alike_and_points_follow(tmp_path):
    im, point = displayed()
    samples = []
    for o in range(1, 9):
        stored = im.transpose(UNDO[o]) if o in UNDO else im
        exif = Image.Exif()
        exif[0x0112] = o
        path = save(stored, tmp_path / f"o{o}.jpg", exif=exif.tobytes(), quality=95)
        shown = np.asarray(ImageOps.exif_transpose(Image.open(path)), int)
        assert np.abs(shown - np.asarray(im, int)).mean() < 3
        samples.append(Sample(path, (im.height, im.width), point))
    a, b = compare_loaders(samples)
    assert (a["images"] - b["images"]).abs().max() < 0.05
    for img in a["images"]:  # every orientation shows the displayed picture
        assert (img - a["images"][0]).abs().mean() < 0.05
    # the bright square lands on the keypoint
    x, y = denormalize_points(a["keypoints"][0].numpy(), OUT)[0]
    g = a["images"][0, 2].numpy()  # blue: bright in the square only
    ys, xs = np.nonzero(g > (g.max() + g.min()) / 2)
    assert abs(xs.mean() + 0.5 - x) < 1 and abs(ys.mean() + 0.5 - y) < 1


def test_png_exif_orientation(tmp_path):
    im, point = displayed()
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(im.transpose(UNDO[6]), tmp_path / "o6.png", "PNG", exif=exif.tobytes())
    plain = save(im, tmp_path / "plain.png", "PNG")
    hw = (im.height, im.width)
    a, b = compare_loaders([Sample(path, hw, point), Sample(plain, hw, point)])
    assert (a["images"] - b["images"]).abs().max() < 0.05
    assert (a["images"][0] - a["images"][1]).abs().max() < 0.05


def test_colour_modes_become_rgb_alike(tmp_path):
    im, _ = displayed()
    grey16 = Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257 + 100)
    files = [save(im.convert("L"), tmp_path / "grey.jpg"), save(im.convert("CMYK"), tmp_path / "cmyk.jpg")]
    files += [save(im.convert(mode), tmp_path / f"{mode}.png", "PNG") for mode in ("RGBA", "P", "LA")]
    files.append(save(grey16, tmp_path / "grey16.png", "PNG"))
    a, b = compare_loaders([Sample(f, (im.height, im.width)) for f in files])
    assert a["images"].shape == (len(files), 3, *OUT)
    assert (a["images"] - b["images"]).abs().max() < 0.05


@pytest.fixture
def good_files(tmp_path) -> list[Sample]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(12):
        img = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((128, 96))
        out.append(Sample(save(img, tmp_path / f"ok{i}.jpg", quality=90), (96, 128)))
    return out


def damaged(samples, i, data: bytes) -> list[Sample]:
    with open(samples[i].path, "wb") as f:
        f.write(data)
    return samples


def jpeg_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: bytes(np.random.default_rng(1).integers(0, 256, len(data), dtype=np.uint8)),
    "header only": lambda data: data[:300],
}


@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_bad_jpeg_mid_epoch_names_the_file(good_files, kind, corruption):
    bad = good_files[7]
    samples = damaged(good_files, 7, CORRUPTIONS[corruption](jpeg_bytes(bad.path)))
    loader = LOADERS[kind](samples, size=OUT, batch_size=3, train=False,
                           num_threads=0 if kind == "reference" else 2)
    seen = []
    with pytest.raises(DatasetError, match=rf"{bad.path}: .*(decode|JPEG)"):
        for batch in loader:
            seen += batch["index"].tolist()
    assert 7 not in seen


def test_truncated_png_names_the_file(tmp_path, good_files):
    im, _ = displayed()
    path = save(im, tmp_path / "cut.png", "PNG")
    data = jpeg_bytes(path)
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    samples = good_files[:4] + [Sample(path, (im.height, im.width))] + good_files[4:6]
    for kind in LOADERS:
        with pytest.raises(DatasetError, match="cut.png"):
            load(kind, samples, batch_size=2)


def test_dali_loader_recovers_after_an_error(good_files):
    data = jpeg_bytes(good_files[5].path)
    samples = damaged(good_files, 5, data[:200])
    loader = build_loader(samples, size=OUT, batch_size=4, train=False)
    with pytest.raises(DatasetError):
        list(loader)
    damaged(samples, 5, data)
    assert sum(len(b["index"]) for b in loader) == 12


@pytest.mark.parametrize("kind", LOADERS)
def test_missing_and_empty_files_name_the_file(good_files, tmp_path, kind):
    samples = good_files[:5] + [Sample(str(tmp_path / "gone.jpg"), (96, 128))]
    with pytest.raises(DatasetError, match="gone.jpg"):
        load(kind, samples, batch_size=2)
    (tmp_path / "empty.jpg").write_bytes(b"")
    samples = good_files[:5] + [Sample(str(tmp_path / "empty.jpg"), (96, 128))]
    with pytest.raises(DatasetError, match="empty.jpg"):
        load(kind, samples, batch_size=2)


@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("wrong", [(90, 128), (96, 140)])
def test_size_mismatch_names_the_file(good_files, kind, wrong):
    samples = list(good_files)
    samples[4] = Sample(samples[4].path, wrong)  # the file is 96 x 128
    with pytest.raises(DatasetError, match=rf"{samples[4].path}: image is \(96, 128\)"):
        load(kind, samples, batch_size=3)


def test_dali_loader_does_not_import_the_oracle():
    code = ("import sys, fastkp.pipeline.dali_loader; "
            "assert 'fastkp.pipeline.reference' not in sys.modules, 'imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert reference.decode_rgb is decode.decode_rgb  # still importable from the oracle
