"""fastkp-infer reads PNG (libpng) with the pixels of the Python side's decode_rgb (PIL)
for every PNG flavour, walks folders for .png, refuses damaged PNGs naming them, and
exits 2 when it finds no image."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from PIL import Image

from fastkp.pipeline.decode import decode_rgb
from fastkp.predict import collect_images
from support.images import H, RGB, W, png_bytes, png_variants, random_pixels, write_jpeg, write_png
from support.infer import json_lines, refused_lines, run_infer
from support.models import make_probe, probe_pixels


def test_cpp_decodes_png_like_pil(tmp_path):
    """A probe model reveals the pixels fastkp-infer decoded: they equal decode_rgb's."""
    files = png_variants(tmp_path)
    for hw in ((1, 1), (2, 3)):  # Adam7 with empty passes
        px = random_pixels(*hw, seed=1)
        files[f"Adam7 {hw}"] = write_png(tmp_path / f"tiny{hw[0]}x{hw[1]}.png", px, RGB, interlace=True)
    wanted = {name: decode_rgb(str(path)) for name, path in files.items()}
    for hw in {w.shape[:2] for w in wanted.values()}:  # one run per displayed size
        names = [n for n, w in wanted.items() if w.shape[:2] == hw]
        probe = make_probe(tmp_path / f"probe{hw[0]}x{hw[1]}.pt", hw)
        records = json_lines(run_infer(probe, *(files[n] for n in names)).stdout)
        assert [r["image"] for r in records] == [str(files[n]) for n in names]
        for name, record in zip(names, records):
            np.testing.assert_array_equal(probe_pixels(record), wanted[name], err_msg=name)
    for name in ("eXIf orientation 6", "eXIf 3, then 6 after the pixels", "eXIf with the JPEG prefix"):
        assert wanted[name].shape[:2] == (W, H), name


def test_cpp_walks_folders_for_png(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/c.PNG", "a.png"):
        Image.fromarray(random_pixels(H, W)).save(tmp_path / name)
    write_jpeg(tmp_path / "b" / "a.jpg", random_pixels(H, W))
    (tmp_path / "notes.txt").write_text("not an image")
    probe = make_probe(tmp_path / "probe.pt", (H, W))
    records = json_lines(run_infer(probe, tmp_path).stdout)
    assert [r["image"] for r in records] == collect_images([str(tmp_path)])
    assert [r["image"][len(str(tmp_path)) + 1:] for r in records] == ["a.png", "b/a.jpg", "b/c.PNG"]


def test_cpp_bad_pngs(tmp_path):
    """Each damaged PNG: one stderr line naming it; the good image still answered; exit 1."""
    good = tmp_path / "good.png"
    Image.fromarray(random_pixels(H, W)).save(good)
    data = good.read_bytes()
    idat = data.index(b"IDAT") + 4
    bad = {
        "truncated.png": data[: len(data) // 2],
        "no pixels.png": data[:idat - 8],  # signature and IHDR only
        "bad checksum.png": data[:idat] + bytes(b ^ 0x5A for b in data[idat:idat + 20]) + data[idat + 20:],
        "garbled pixels.png": png_bytes(W, H, 8, RGB, bytes(range(256))),
        "huge.png": png_bytes(20000, 10000, 8, RGB, zlib.compress(bytes(10))),
    }
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    lines = refused_lines(make_probe(tmp_path / "probe.pt", (H, W)), good, [tmp_path / n for n in bad])
    assert "image too large (20000x10000" in lines[-1]


@pytest.mark.parametrize("folders", [["empty"], ["empty", "notes"]])
def test_cpp_no_image_found(tmp_path, folders):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no image here")
    proc = run_infer(make_probe(tmp_path / "probe.pt", (H, W)), *(tmp_path / f for f in folders), check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("fastkp-infer: no image in ") and str(tmp_path / "empty") in line, line
