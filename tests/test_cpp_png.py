"""fastkp-infer reads PNG (libpng) with the pixels of the Python side's decode_rgb (PIL)
for every PNG flavour, walks folders for .png, refuses damaged PNGs naming them, and
exits 2 when it finds no image."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastkp.pipeline.decode import decode_rgb
from fastkp.predict import collect_images
from test_export_support import json_lines, make_probe, probe_pixels, random_pixels, run_infer, write_jpeg

# Stored size: odd, and not a multiple of 8, so Adam7's passes end mid-block.
H, W = 13, 21
SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6  # PNG colour types
# Adam7's passes: first row, first column, row step, column step
ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def scanlines(samples: np.ndarray, depth: int) -> bytes:
    """(h, w, c) samples as PNG rows, each after filter type 0 (none)."""
    rows = samples.reshape(samples.shape[0], -1)
    if depth == 16:
        rows = rows.astype(">u2").view(np.uint8)
    elif depth < 8:
        bits = np.unpackbits(rows.astype(np.uint8)[..., None], axis=-1)[..., 8 - depth:]
        rows = np.packbits(bits.reshape(len(rows), -1), axis=-1)
    return b"".join(b"\0" + row.astype(np.uint8).tobytes() for row in rows)


def png_bytes(w: int, h: int, depth: int, color_type: int, idat: bytes, interlace: bool = False,
              before: bytes = b"", after: bytes = b"") -> bytes:
    """``before``/``after``: chunks before and after the IDAT."""
    header = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace))
    return SIGNATURE + chunk(b"IHDR", header) + before + chunk(b"IDAT", idat) + after + chunk(b"IEND", b"")


def write_png(path: Path, samples: np.ndarray, color_type: int, depth: int = 8, interlace: bool = False,
              **chunks: bytes) -> Path:
    """What PIL cannot write: 16-bit colour, 2/4-bit grey, Adam7, chunks after the pixels."""
    samples = samples.reshape(*samples.shape[:2], -1)
    if interlace:
        passes = (samples[y0::dy, x0::dx] for y0, x0, dy, dx in ADAM7)
        data = b"".join(scanlines(p, depth) for p in passes if p.size)
    else:
        data = scanlines(samples, depth)
    h, w = samples.shape[:2]
    path.write_bytes(png_bytes(w, h, depth, color_type, zlib.compress(data), interlace, **chunks))
    return path


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()  # "Exif\0\0" + TIFF; PIL's PNG writer drops the prefix


def png_variants(d: Path) -> dict[str, Path]:
    """name -> a PNG whose stored pixels are H x W."""
    rng = np.random.default_rng(7)
    pixels = random_pixels(H, W, seed=5)
    img = Image.fromarray(pixels)
    wide = rng.integers(0, 65536, (H, W, 4), dtype=np.uint16)
    wide[0, :4, 0] = [0x12FF, 0x1280, 0xFF00, 0xFFFF]  # high bytes kept whatever the low ones are
    # 16-bit grey rounds to v / 257: values on both sides of each rounding boundary
    boundary = 257 * rng.integers(0, 255, H * W) + 128 + rng.integers(0, 2, H * W)
    index = rng.integers(0, 16, (H, W), dtype=np.uint8)
    palette = rng.integers(0, 256, 3 * 10, dtype=np.uint8).tobytes()  # 10 colours: indices 10..15 outside it
    out = {}

    def save(name: str, im: Image.Image, **args) -> None:
        out[name] = d / f"{name}.png"
        im.save(out[name], **args)

    save("RGB", img)
    save("RGBA", Image.fromarray(np.dstack([pixels, rng.integers(0, 256, (H, W), dtype=np.uint8)]), "RGBA"))
    save("grey", img.convert("L"))
    save("grey+alpha", img.convert("LA"))
    save("grey 1-bit", img.convert("1"))
    save("grey tRNS", img.convert("L"), transparency=int(pixels[0, 0, 0]))
    save("RGB tRNS", img, transparency=tuple(int(v) for v in pixels[0, 0]))
    save("palette", img.quantize(200))
    save("palette tRNS", img.quantize(200), transparency=3)
    save("palette 4-bit", img.quantize(16), bits=4)
    save("grey 16-bit", Image.fromarray(np.minimum(boundary, 65535).reshape(H, W).astype(np.uint16)))
    raw = {
        "RGB 16-bit": (wide[..., :3], RGB, 16, {}),
        "RGBA 16-bit": (wide, RGBA, 16, {}),
        "grey+alpha 16-bit": (wide[..., :2], GREY_ALPHA, 16, {}),
        "grey 2-bit": (index % 4, GREY, 2, {}),
        "grey 4-bit": (index, GREY, 4, {}),
        "palette, indices past PLTE": (index, PALETTE, 4, {"before": chunk(b"PLTE", palette)}),
        "Adam7 RGB": (pixels, RGB, 8, {"interlace": True}),
        "Adam7 palette 4-bit": (index, PALETTE, 4, {"interlace": True, "before": chunk(b"PLTE", palette * 2)}),
        "Adam7 RGBA 16-bit": (wide, RGBA, 16, {"interlace": True}),
        # PIL reads every chunk before it looks at the EXIF: the last eXIf counts
        "eXIf 3, then 6 after the pixels": (pixels, RGB, 8, {"before": chunk(b"eXIf", exif_bytes(3)[6:]),
                                                            "after": chunk(b"eXIf", exif_bytes(6)[6:])}),
        "eXIf with the JPEG prefix": (pixels, RGB, 8, {"before": chunk(b"eXIf", exif_bytes(6))}),  # PIL strips it
    }
    for name, (samples, color_type, depth, args) in raw.items():
        out[name] = write_png(d / f"{name}.png", samples, color_type, depth, **args)
    for k in range(1, 9):
        save(f"eXIf orientation {k}", img, exif=exif_bytes(k))
    return out


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


def refused_lines(model: Path, good: Path, bad: list[Path]) -> list[str]:
    """fastkp-infer on ``good`` then ``bad``: exit 1, ``good`` answered, one stderr line per
    bad image naming it, in order (the lines, returned)."""
    proc = run_infer(model, good, *bad, check=False)
    assert proc.returncode == 1
    assert [r["image"] for r in json_lines(proc.stdout)] == [str(good)]
    lines = proc.stderr.splitlines()
    assert len(lines) == len(bad), proc.stderr
    for path, line in zip(bad, lines):
        assert line.startswith(f"fastkp-infer: {path}: "), line
    return lines


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
