"""Image headers: format, stored size and EXIF orientation, read without decoding pixels.

Keypoints refer to the image as displayed, so every decoder in fastkp must
apply the orientation reported here: the EXIF Orientation tag (0x0112) of a
JPEG APP1 segment or a PNG ``eXIf`` chunk placed before the image data.
Values outside 1..8 count as 1, as in ``PIL.ImageOps.exif_transpose``.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .pixels import check_pixels, over_limit, pil_limit, pixel_limit
from .sample import DatasetError

FORMATS = ("JPEG", "PNG")
ORIENTATION_TAG = 0x0112
SWAPS_AXES = frozenset({5, 6, 7, 8})  # transposed or rotated by 90 degrees

# What PIL raises on a damaged or foreign header (UnidentifiedImageError is an OSError).
_HEADER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
)


@dataclass(frozen=True)
class ImageHeader:
    """What the header says: ``stored_size`` is (height, width) before orientation."""

    format: str
    mode: str
    stored_size: tuple[int, int]
    orientation: int

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) as displayed, EXIF orientation applied."""
        h, w = self.stored_size
        return (w, h) if self.orientation in SWAPS_AXES else (h, w)


def _orientation(exif: bytes | None) -> int:
    if not exif:
        return 1
    tags = Image.Exif()
    tags.load(exif)
    value = tags.get(ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def read_header(path: str | Path, max_pixels: int | None = None) -> ImageHeader:
    """Open ``path`` lazily and read its header; DatasetError names the file if it is not
    a readable JPEG or PNG or is over ``max_pixels`` (``fastkp.data.pixels``). Damage
    inside the pixel data is not detected here."""
    path = os.path.expanduser(path)
    if "\0" in path:  # no file system takes it; os.open would raise ValueError
        raise DatasetError(f"{path!r}: a file name with a NUL byte")
    return quick_header(path, max_pixels) or pil_header(path, max_pixels)


def pil_header(path: str, max_pixels: int | None = None) -> ImageHeader:
    """``read_header`` by PIL: every file that ``quick_header`` leaves alone, and its errors."""
    try:
        with pil_limit(max_pixels), Image.open(path, formats=FORMATS) as im:
            w, h = im.size
            check_pixels(path, h, w, max_pixels)
            header = ImageHeader(im.format or "", im.mode, (h, w), _orientation(im.info.get("exif")))
    except Image.DecompressionBombError:
        raise over_limit(path, max_pixels=max_pixels) from None
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing image") from None
    except _HEADER_ERRORS as err:
        raise DatasetError(f"{path}: not a readable JPEG or PNG header ({type(err).__name__})") from None
    if h <= 0 or w <= 0:
        raise DatasetError(f"{path}: empty image ({w}x{h})")
    return header


# ---- the quick path -----------------------------------------------------------------------
# PIL's header parse costs about as much as the rest of indexing a record. The common
# files (no EXIF, no unusual segments or chunks) are parsed here instead, accepting only
# what PIL (JpegImagePlugin / PngImagePlugin) accepts and reading what it reads; anything
# else, damage included, returns None and goes to pil_header, which judges it and words the
# error. tests/data/keypoints/test_kp_all_formats.py checks, on made and mangled files, that
# the two agree.

_PROBE = 1 << 14  # bytes read; a header running past them goes to PIL
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_MODES = {(8, 0): "L", (8, 2): "RGB", (8, 3): "P", (8, 4): "LA", (8, 6): "RGBA"}  # (bit depth, colour type)
_PNG_PLAIN = {b"PLTE": 0, b"sRGB": 1, b"gAMA": 4, b"pHYs": 9, b"cHRM": 32}  # chunk -> the length PIL needs
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}  # by component count
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended, progressive
_JPEG_SKIP = frozenset({0xC4, 0xDD, 0xFE, *range(0xE0, 0xF0)})  # DHT, DRI, COM, APPn: PIL only stores them ...
_ALWAYS = 1 << 16  # longer than any segment
_JPEG_APP = {  # ... except these, which PIL parses (failing if short) or which make the file more than a JPEG
    0xE0: ((b"JFIF", 7),),  # marker: ((prefix, the length PIL needs), ...)
    0xE1: ((b"Exif\0\0", _ALWAYS),),  # the orientation: PIL's EXIF parser reads it
    0xE2: ((b"MPF\0", _ALWAYS), (b"ICC_PROFILE\0", 14)),  # an MPO; a profile fragment (PIL reads its byte 13)
    0xED: ((b"Photoshop 3.0\0", _ALWAYS),),
    0xEE: ((b"Adobe", 7),),
}


def quick_header(path: str, max_pixels: int | None = None) -> ImageHeader | None:
    """The header of a plain JPEG or PNG as ``pil_header`` reads it, or None (see above)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))  # open()'s file object costs as much as the parse
        try:
            data = os.read(fd, _PROBE)  # a short read only sends the file to PIL
        finally:
            os.close(fd)
    except OSError:
        return None
    if data.startswith(b"\xff\xd8\xff"):
        header = _jpeg(data)
    elif data.startswith(_PNG_MAGIC):
        header = _png(data)
    else:
        return None
    if header is None:
        return None
    h, w = header.stored_size
    return header if h > 0 and w > 0 and h * w <= pixel_limit(max_pixels) else None


def _jpeg(data: bytes) -> ImageHeader | None:
    """Segments from SOI to the start of scan, each right after the last (no fill bytes)."""
    pos, header = 2, None
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker, end = data[pos + 1], pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end < pos + 4 or end > len(data):
            return None
        s = data[pos + 4 : end]
        if marker == 0xDA:  # start of scan: PIL stops here
            return header
        if marker in _JPEG_SOF:
            if header is not None or len(s) < 6 or (len(s) - 6) % 3 or s[0] != 8 or s[5] not in _JPEG_MODES:
                return None
            header = ImageHeader("JPEG", _JPEG_MODES[s[5]], (int.from_bytes(s[1:3], "big"),
                                                              int.from_bytes(s[3:5], "big")), 1)
        elif marker == 0xDB:  # quantisation tables: PIL checks each is complete
            while s:
                n = 65 if s[0] < 16 else 129
                if len(s) < n:
                    return None
                s = s[n:]
        elif marker not in _JPEG_SKIP or any(s.startswith(p) and len(s) < n for p, n in _JPEG_APP.get(marker, ())):
            return None
        pos = end
    return None


def _png(data: bytes) -> ImageHeader | None:
    """IHDR first, then only chunks from _PNG_PLAIN, each with its CRC (as PIL checks), up to IDAT."""
    pos, header = 8, None
    while pos + 8 <= len(data):
        cid, n = data[pos + 4 : pos + 8], int.from_bytes(data[pos : pos + 4], "big")
        if cid == b"IDAT":  # PIL stops at its length and name
            return header
        end = pos + 12 + n
        body = data[pos + 8 : end - 4]
        if end > len(data) or zlib.crc32(body, zlib.crc32(cid)) != int.from_bytes(data[end - 4 : end], "big"):
            return None
        if header is None:
            if cid != b"IHDR" or n != 13 or body[11] or (body[8], body[9]) not in _PNG_MODES:
                return None  # body[11]: the filter method, which PIL refuses unless 0
            header = ImageHeader("PNG", _PNG_MODES[body[8], body[9]],
                                 (int.from_bytes(body[4:8], "big"), int.from_bytes(body[0:4], "big")), 1)
        elif cid not in _PNG_PLAIN or n < _PNG_PLAIN[cid]:
            return None
        pos = end
    return None
