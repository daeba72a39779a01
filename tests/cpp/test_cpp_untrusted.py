"""Untrusted input in C++: crafted model archives are refused before any loader sees
them, one pixel limit is checked from image headers, and fastkp._verify.verify_images
refuses exactly what fastkp-infer's decoders refuse, in the same words."""

from __future__ import annotations

import os
import subprocess
import time
import zipfile

import pytest
from PIL import Image

from fastkp._verify import DEFAULT_MAX_PIXELS, verify_images
from support.fuzz import with_jpeg_size, with_png_size
from support.images import jpeg_variants, png_variants, random_pixels, write_jpeg, write_ppm
from support.infer import INFER, refused_lines, run_infer
from support.model_files import unsafe_archives
from support.models import make_probe

# The tests call torch.jit directly (to make foreign files), which warns of its deprecation.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")
TOO_LARGE = f"image too large (13000x13000, more than {DEFAULT_MAX_PIXELS} pixels)"


@pytest.fixture
def probe(tmp_path):
    """(model, an 8x8 image it answers)."""
    return make_probe(tmp_path / "probe.pt", (8, 8)), write_ppm(tmp_path / "good.ppm", random_pixels(8, 8))


def refused_model(model, image, says: str) -> None:
    proc = run_infer(model, image, check=False)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    (line,) = proc.stderr.splitlines()
    assert str(model) in line and says in line, line


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
def test_unsafe_archives_are_refused(probe, tmp_path):
    model, image = probe
    for name, (path, says) in unsafe_archives(model, tmp_path).items():
        refused_model(path, image, says)
    assert not (tmp_path.parent / "x.json").exists()


def test_damaged_zip_directories_are_refused(probe, tmp_path):
    model, image = probe
    data = model.read_bytes()
    end = data.rindex(b"PK\x05\x06")
    count = int.from_bytes(data[end + 10:end + 12], "little")
    zip64 = data.rindex(b"PK\x06\x06")  # torch writes zip64 end records: their count is the one read
    crafted = {
        "one entry more claimed": data[:zip64 + 24] + (count + 1).to_bytes(8, "little") * 2 + data[zip64 + 40:],
        "bytes before the archive": b"junk" + data,
        "no end record": data[:end],
    }
    for name, content in crafted.items():
        path = tmp_path / f"{name}.pt"
        path.write_bytes(content)
        refused_model(path, image, "not a fastkp model file (")
    with zipfile.ZipFile(model) as zin, zipfile.ZipFile(tmp_path / "nul.pt", "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        zout.writestr("probe/data.pkl@junk", b"")  # zipfile cuts names at a NUL: patched in below
    nul = tmp_path / "nul.pt"
    nul.write_bytes(nul.read_bytes().replace(b"data.pkl@junk", b"data.pkl\0junk"))
    # an extractor would see probe/data.pkl twice; the message escapes the NUL
    refused_model(nul, image, r"entry 'probe/data.pkl\x00junk' has a NUL byte in its name")


def claims_13000(tmp_path) -> list:
    """A tiny JPEG, PNG and PPM whose headers claim 13000x13000 pixels."""
    pixels = random_pixels(16, 16)
    jpeg = write_jpeg(tmp_path / "small.jpg", pixels).read_bytes()
    Image.fromarray(pixels).save(tmp_path / "small.png")
    files = {"big.jpg": with_jpeg_size(jpeg, 13000, 13000),
             "big.png": with_png_size((tmp_path / "small.png").read_bytes(), 13000, 13000),
             "big.ppm": b"P6\n13000 13000\n255\n" + bytes(30)}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return [tmp_path / name for name in files]


def test_pixel_limit_from_the_header(probe, tmp_path):
    model, good = probe
    big = claims_13000(tmp_path)
    start = time.perf_counter()
    for line in refused_lines(model, good, big):
        assert line.endswith(TOO_LARGE), line
    assert time.perf_counter() - start < 20  # model load included; no 169-megapixel decode
    start = time.perf_counter()
    assert verify_images([str(p) for p in big], 1) == [f"{p}: {TOO_LARGE}" for p in big]
    assert time.perf_counter() - start < 0.5


def infer_with_env(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(INFER), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_pixel_limit_can_be_raised_or_lowered(probe, tmp_path):
    model, good = probe
    big = claims_13000(tmp_path)
    for proc in (run_infer(model, good, *big, "--max-pixels", "200000000", check=False),
                 infer_with_env(model, good, *big, FASTKP_MAX_PIXELS="200000000")):
        assert proc.returncode == 1 and len(proc.stderr.splitlines()) == len(big), proc.stderr
        assert "image too large" not in proc.stderr  # the tiny data fails to decode instead
    proc = infer_with_env(model, good, FASTKP_MAX_PIXELS="63")  # an 8x8 image is 64 pixels
    assert proc.returncode == 1 and proc.stderr.strip().endswith("image too large (8x8, more than 63 pixels)")
    assert run_infer(model, good, "--max-pixels", "64", check=False).returncode == 0
    assert verify_images([str(good)], 1, max_pixels=63) == [f"{good}: image too large (8x8, more than 63 pixels)"]


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1e8", " 100", ""])
def test_bad_pixel_limits(probe, value, monkeypatch):
    model, good = probe
    proc = infer_with_env(model, good, FASTKP_MAX_PIXELS=value)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"fastkp-infer: FASTKP_MAX_PIXELS must be a positive integer (a number of pixels), " \
                          f"got '{value}'\n"
    monkeypatch.setenv("FASTKP_MAX_PIXELS", value)
    with pytest.raises(ValueError, match="FASTKP_MAX_PIXELS must be a positive integer"):
        verify_images([str(good)], 1)
    proc = run_infer(model, good, "--max-pixels", value or "''", check=False)
    assert proc.returncode == 2 and "--max-pixels needs a positive integer" in proc.stderr


def test_verify_accepts_every_image_fastkp_infer_decodes(tmp_path):
    (tmp_path / "jpeg").mkdir()
    (tmp_path / "png").mkdir()
    files = [*jpeg_variants(tmp_path / "jpeg", random_pixels(23, 41)).values(), *png_variants(tmp_path / "png").values()]
    assert verify_images([str(f) for f in files], 2) == [None] * len(files)


def damaged_images(tmp_path) -> list:
    """Files fastkp-infer refuses, one per reason."""
    data = write_jpeg(tmp_path / "source.jpg", random_pixels(40, 60)).read_bytes()
    Image.fromarray(random_pixels(13, 21)).save(tmp_path / "source.png")
    png = (tmp_path / "source.png").read_bytes()
    idat = png.index(b"IDAT") + 4
    files = {
        "truncated.jpg": data[: len(data) // 2],
        "premature end of data segment.jpg": data[: len(data) // 2] + b"\xff\xd9",
        "garbled.jpg": data[:400] + bytes(b ^ 0x5A for b in data[400:-2]) + data[-2:],
        "garbage.jpg": bytes(range(256)) * 4,
        "empty.jpg": b"",
        "short.ppm": b"P6\n10 10\n255\n" + bytes(50),
        "sixteen.ppm": b"P6\n2 2\n65535\n" + bytes(24),
        "truncated.png": png[: len(png) // 2],
        "bad checksum.png": png[:idat] + bytes(b ^ 0x5A for b in png[idat:idat + 20]) + png[idat + 20:],
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return [tmp_path / n for n in files] + claims_13000(tmp_path) + [tmp_path / "missing.jpg"]


def test_verify_refuses_what_fastkp_infer_refuses_in_its_words(probe, tmp_path):
    model, good = probe
    bad = damaged_images(tmp_path)
    lines = refused_lines(model, good, bad)
    want = [line.removeprefix("fastkp-infer: ") for line in lines]
    assert "Corrupt JPEG data: premature end of data segment" in want[1]  # a libjpeg warning, refused
    names = [str(good), *map(str, bad)] * 3
    for threads in (1, 2, 64):
        assert verify_images(names, threads) == [None, *want] * 3


def test_verify_arguments(probe):
    _, good = probe
    assert verify_images([], 4) == []
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        verify_images([str(good)], 0)
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        verify_images([str(good)], 1, max_pixels=0)
