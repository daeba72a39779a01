"""Images written to disk for the tests: smooth random pixels as PPM (lossless) and JPEG,
PNGs of every flavour written byte by byte (what PIL cannot write), and the JPEG and PNG
variants the decoders are checked on."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# Stored size: odd, and not a multiple of 8, so Adam7's passes end mid-block.
H, W = 13, 21
SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6  # PNG colour types
# Adam7's passes: first row, first column, row step, column step
ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]


def random_pixels(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth structure plus noise: (h, w, 3) uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w, 1), yy * 255 / max(h, 1), (xx + yy) * 128 / max(h + w, 1)], axis=-1)
    return np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)


def write_ppm(path: Path, pixels: np.ndarray) -> Path:
    """Lossless: the C++ program reads exactly these pixels."""
    h, w = pixels.shape[:2]
    path.write_bytes(f"P6\n{w} {h}\n255\n".encode() + pixels.tobytes())
    return path


def write_jpeg(path: Path, pixels: np.ndarray, **save_args) -> Path:
    Image.fromarray(pixels).save(path, quality=92, **save_args)
    return path


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


def jpeg_variants(d, pixels):
    """name -> file: the JPEG flavours PIL writes, plus lossless PNM."""
    img = Image.fromarray(pixels)
    out = {
        "baseline 4:2:0": write_jpeg(d / "base.jpg", pixels),
        "4:4:4": write_jpeg(d / "444.jpg", pixels, subsampling=0),
        "4:2:2": write_jpeg(d / "422.jpg", pixels, subsampling=1),
        "progressive": write_jpeg(d / "prog.jpg", pixels, progressive=True),
        "ppm": write_ppm(d / "image.ppm", pixels),
    }
    img.convert("L").save(d / "gray.jpg", quality=90)
    img.convert("CMYK").save(d / "cmyk.jpg", quality=90)
    img.convert("L").save(d / "gray.pgm")
    out.update({"grayscale": d / "gray.jpg", "CMYK": d / "cmyk.jpg", "pgm": d / "gray.pgm"})
    for k in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = k
        out[f"EXIF orientation {k}"] = write_jpeg(d / f"orient{k}.jpg", pixels, exif=exif.tobytes())
    return out
