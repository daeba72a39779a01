"""Image headers: format, stored size and EXIF orientation, read without decoding pixels.

Keypoints refer to the image as displayed, so every decoder in fastkp must
apply the orientation reported here: the EXIF Orientation tag (0x0112) of a
JPEG APP1 segment or a PNG ``eXIf`` chunk placed before the image data.
Values outside 1..8 count as 1, as in ``PIL.ImageOps.exif_transpose``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .pixels import check_pixels, over_limit, pil_limit
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


def read_header(path: str | Path) -> ImageHeader:
    """Open ``path`` lazily and read its header; DatasetError names the file if it is not
    a readable JPEG or PNG. Damage inside the pixel data is not detected here."""
    path = os.path.expanduser(path)
    try:
        with pil_limit(), Image.open(path, formats=FORMATS) as im:
            w, h = im.size
            check_pixels(path, h, w)
            header = ImageHeader(im.format or "", im.mode, (h, w), _orientation(im.info.get("exif")))
    except Image.DecompressionBombError:
        raise over_limit(path) from None
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing image") from None
    except _HEADER_ERRORS as err:
        raise DatasetError(f"{path}: not a readable JPEG or PNG header ({type(err).__name__})") from None
    if h <= 0 or w <= 0:
        raise DatasetError(f"{path}: empty image ({w}x{h})")
    return header
