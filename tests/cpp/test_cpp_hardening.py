"""Issue 24, fastkp-infer's side (and where named, fastkp.predict's and fastkp._verify's):
prepended model archives, --boxes lines that name no usable file or hold too many boxes,
--threads and FASTKP_MAX_PIXELS out of range, one line for a bad value, PNG chunk bombs,
and the memory a large image takes."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
import torch

from fastkp import predict
from fastkp._verify import verify_images
from support.images import chunk, png_bytes, random_pixels, scanlines, write_ppm
from support.infer import INFER, json_lines, refused_lines, run_infer
from support.model_files import record, save_model
from support.models import make_probe

# The tests script small modules with torch.jit directly, which warns of its deprecation.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")


class BoxCentre(torch.nn.Module):
    """One keypoint: the box's centre."""

    def forward(self, images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return ((boxes[:, :2] + boxes[:, 2:]) / 2)[:, None]


class Corner(torch.nn.Module):
    """A model without boxes: one keypoint, the image's bottom-right corner."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = torch.tensor([images.size(2), images.size(1)], dtype=torch.float32)
        return size.expand(images.size(0), 1, 2)


POINT = {"name": "keypoints", "kind": "keypoints", "n_keypoints": 1, "y_range": [-1, 1]}


@pytest.fixture(scope="module")
def box_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("hardening")
    model = save_model(d / "box.pt", BoxCentre(), {**record(POINT), "box_crop": {"margin": 0.0, "mode": "squash"}})
    return model, write_ppm(d / "a.ppm", random_pixels(8, 8))


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("hardening") / "plain.pt", Corner(), record(POINT))


def one_line(proc: subprocess.CompletedProcess, status: int = 2) -> str:
    assert proc.returncode == status and proc.stdout == "", proc.stderr
    (line,) = proc.stderr.splitlines()
    return line


def run_predict(*args) -> subprocess.CompletedProcess:
    """python -m fastkp.predict, run in this process (a subprocess costs seconds of imports)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = predict.cli([str(a) for a in args])
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def test_prepended_archive_is_refused_even_with_consistent_offsets(box_model, tmp_path):
    """Bytes before a zip whose offsets all count them (zip -A's fix): one reader sees the
    archive, another the bytes; both programs refuse the file."""
    model, image = box_model
    data, junk = model.read_bytes(), b"#!/bin/sh\nexit 0\n" * 4
    shifted = bytearray(junk + data)
    end = shifted.rindex(b"PK\x05\x06")
    zip64 = shifted.rindex(b"PK\x06\x06")
    at = lambda pos, n: int.from_bytes(shifted[pos:pos + n], "little")  # noqa: E731
    put = lambda pos, n, v: shifted.__setitem__(slice(pos, pos + n), v.to_bytes(n, "little"))  # noqa: E731
    put(zip64 + 48, 8, at(zip64 + 48, 8) + len(junk))  # the directory's offset
    put(end - 20 + 8, 8, zip64)  # the locator's pointer to the zip64 end record
    if at(end + 16, 4) != 0xFFFFFFFF:
        put(end + 16, 4, at(end + 16, 4) + len(junk))
    pos, count = at(zip64 + 48, 8), at(zip64 + 32, 8)
    for _ in range(count):  # each entry's local header offset (zip64 extra when 0xFFFFFFFF)
        assert shifted[pos:pos + 4] == b"PK\x01\x02"
        name, extra, comment = at(pos + 28, 2), at(pos + 30, 2), at(pos + 32, 2)
        assert at(pos + 42, 4) != 0xFFFFFFFF
        put(pos + 42, 4, at(pos + 42, 4) + len(junk))
        pos += 46 + name + extra + comment
    path = tmp_path / "prepended.pt"
    path.write_bytes(bytes(shifted))
    with zipfile.ZipFile(path) as z:  # consistent: zipfile reads every entry back
        assert z.testzip() is None
    says = "the archive does not start at the beginning of the file; refusing the file"
    assert one_line(run_infer(path, image, check=False)) == f"fastkp-infer: {path}: {says}"
    assert one_line(run_predict(path, image)).endswith(f" {path}: {says}")


def boxes_file(tmp_path, line: bytes):
    path = tmp_path / "boxes.jsonl"
    path.write_bytes(b'{"image": "x.ppm", "boxes": [[0, 0, 2, 2]]}\n' + line + b"\n")
    return path


@pytest.mark.parametrize("line, cpp, py", [
    (b'{"image": "a\\u0000b.ppm", "boxes": [[0, 0, 2, 2]]}', "field 'image' holds a NUL byte",
     "field 'image' holds a NUL byte"),
    (b'{"image": "a\xff\xfeb.ppm", "boxes": [[0, 0, 2, 2]]}', "invalid UTF-8 at byte 12", "invalid UTF-8 at byte 12"),
    (b'{"image": "a\\udc80.ppm", "boxes": [[0, 0, 2, 2]]}', "lone surrogate", "field 'image' holds a lone surrogate"),
    (b'{"image": "a.ppm", "boxes": [' + b", ".join([b"[0, 0, 2, 2]"] * 10_001) + b"]}",
     "field 'boxes' has 10001 boxes, at most 10000 per line", "field 'boxes' has 10001 boxes, at most 10000 per line"),
])
def test_bad_boxes_lines_name_file_and_line(box_model, tmp_path, line, cpp, py):
    model, _ = box_model
    path = boxes_file(tmp_path, line)
    got = one_line(run_infer(model, "--boxes", path, check=False))
    assert got.startswith(f"fastkp-infer: {path}:2: ") and cpp in got, got
    err = one_line(run_predict(model, "--boxes", path))
    assert err.startswith("fastkp.predict: ") and f" {path}:2: " in err and py in err, err


def test_huge_thread_count_is_clamped(box_model):
    model, image = box_model
    proc = run_infer(model, image, "--threads", "1000000000", check=False)
    assert proc.returncode == 0 and proc.stderr.count("\n") == 1, proc.stderr  # the whole-frame notice only
    threads = torch.get_num_threads()
    try:
        assert run_predict(model, image, "--threads", "1000000000").returncode == 0
        assert torch.get_num_threads() == os.cpu_count()
    finally:
        torch.set_num_threads(threads)


def test_bad_pixel_limit_is_bad_usage_in_both(box_model, monkeypatch):
    model, image = box_model
    infer = subprocess.run([str(INFER), str(model), str(image)], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "FASTKP_MAX_PIXELS": "abc"})
    assert "FASTKP_MAX_PIXELS" in one_line(infer)
    monkeypatch.setenv("FASTKP_MAX_PIXELS", "abc")
    assert "FASTKP_MAX_PIXELS" in one_line(run_predict(model, image))


@pytest.mark.parametrize("args", [["m.pt", "x.jpg", "--threads", "0"], ["m.pt", "x.jpg", "--bench", "x"],
                                  ["m.pt", "x.jpg", "--frobnicate"], ["m.pt"]])
def test_value_errors_are_one_line_naming_help(args):
    line = one_line(run_infer(*args, check=False))
    assert line.startswith("fastkp-infer: ") and line.endswith("(fastkp-infer --help shows the usage)"), line


BOMB = zlib.compress(bytes(2 << 20), 9)  # 2 MiB of zeros in about 2 KiB


@pytest.mark.parametrize("where", ["before", "after"])
def test_png_chunk_bombs_are_refused_by_all_three(plain_model, tmp_path, where):
    """iCCP, zTXt and iTXt that inflate past PIL's 1 MiB: fastkp-infer, fastkp._verify and
    fastkp.predict (PIL) all refuse them; the same chunks under the limit all accept."""
    model = plain_model
    idat = zlib.compress(scanlines(random_pixels(4, 4), 8))
    chunks = {"iCCP": b"icc\0\0" + BOMB, "zTXt": b"Comment\0\0" + BOMB, "iTXt": b"Comment\0\1\0en\0\0" + BOMB}
    bombs, fine = [], []
    for kind, data in chunks.items():
        for name, body in ((f"{kind}.png", data), (f"{kind}-small.png", data.replace(BOMB, zlib.compress(b"hi")))):
            path = tmp_path / name
            path.write_bytes(png_bytes(4, 4, 8, 2, idat, **{where: chunk(kind.encode(), body)}))
            (fine if "small" in name else bombs).append(path)
    lines = [line.removeprefix("fastkp-infer: ") for line in refused_lines(model, fine[0], bombs)]
    for kind, line in zip(chunks, lines):
        assert line.endswith(f"PNG {kind} chunk inflates to more than 1 MiB (a decompression bomb); refusing the image")
    assert verify_images([str(p) for p in fine + bombs], 1) == [None] * len(fine) + lines
    proc = run_predict(model, *fine, *bombs)
    assert proc.returncode == 1 and len(json_lines(proc.stdout)) == len(fine)
    assert [line.removeprefix("fastkp.predict: ") for line in proc.stderr.splitlines()] == lines


def big_png(path, side: int = 10_000):
    """A ``side`` x ``side`` RGB PNG of a few hundred KB (rows of three kinds), written row by
    row; and the function giving row ``y`` of its pixels."""
    x = np.arange(side)
    kinds = [np.stack([x % 251, (x // 40) % 256, np.full(side, k * 100)], 1).astype(np.uint8) for k in range(3)]
    row = lambda y: kinds[(y // 7) % 3]  # noqa: E731
    z = zlib.compressobj(1)
    idat = b"".join(z.compress(b"\0" + row(y).tobytes()) for y in range(side)) + z.flush()
    path.write_bytes(png_bytes(side, side, 8, 2, idat))
    return path, row


def squashed(row, side: int, out: int) -> np.ndarray:
    """F.interpolate(bilinear, align_corners=False) of the image to out x out, in float32."""
    scale = np.float32(side) / np.float32(out)
    src = np.maximum(scale * (np.arange(out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5), 0)
    i0 = src.astype(np.int64)
    lam = (src - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, side - 1)
    rows = lambda y: row(y).astype(np.float32)  # noqa: E731
    cols = lambda r: (1 - lam)[:, None] * r[i0] + lam[:, None] * r[i1]  # noqa: E731
    return np.stack([(1 - lam[k]) * cols(rows(i0[k])) + lam[k] * cols(rows(i1[k])) for k in range(out)])


def network_input(record: dict, size: int) -> np.ndarray:
    """The (size, size, 3) float values a probe model (support.models.make_probe) was given."""
    from fastkp.backbones import IMAGENET_MEAN, IMAGENET_STD

    p = np.array(list(record["probabilities"].values()), dtype=np.float64).reshape(3, size, size)
    x = np.log(p / (1 - p))
    return ((x * np.array(IMAGENET_STD)[:, None, None] + np.array(IMAGENET_MEAN)[:, None, None]) * 255).transpose(1, 2, 0)


def peak_mb(*args) -> float:
    """fastkp-infer's peak resident memory: ru_maxrss of the children of a fresh process."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    return float(subprocess.run([sys.executable, "-c", code, str(INFER), *map(str, args)], capture_output=True,
                                text=True, check=True, timeout=300).stdout)


def test_large_image_runs_on_its_sampled_frame(plain_model, tmp_path):
    """A 10000 x 10000 PNG (100 Mpx, under the pixel limit): fastkp-infer peaks at its decoded
    pixels (3 bytes each) and the file's bytes over a small image's run (1.4 GB over it when
    the model's resize started from a float32 copy of the whole image); the network still
    sees the bilinear squash of the whole image (the model resizes the sampled frame, as
    fastkp.predict's), and points come back in the image's pixels."""
    side = 10_000
    path, row = big_png(tmp_path / "big.png", side)
    probe = make_probe(tmp_path / "probe.pt", (8, 8))
    small = write_ppm(tmp_path / "small.ppm", random_pixels(8, 8))
    extra = peak_mb(probe, path) - peak_mb(probe, small)
    held = (3 * side * side + path.stat().st_size) / 2**20  # the decoded pixels and the file's bytes
    assert extra <= held + 16, f"{extra:.0f} MB over a small image's run, {held:.0f} MB held"
    (rec,) = json_lines(run_infer(probe, path).stdout)
    assert (rec["height"], rec["width"]) == (side, side)
    np.testing.assert_allclose(network_input(rec, 8), squashed(row, side, 8), atol=0.01)
    (rec,) = json_lines(run_infer(plain_model, path).stdout)
    assert rec["keypoints"] == [[side, side]]  # the model saw a smaller frame: its corner, scaled back
