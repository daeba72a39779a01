"""The one limit on image size: at most ``max_pixels`` pixels per image.

Every function that checks it takes ``max_pixels`` (None: the default, 100,000,000,
or the environment variable FASTKP_MAX_PIXELS where the user set it). Readers,
predict and the C++ decoders check it from the header, before decoding, so a small
file claiming a huge image cannot exhaust memory.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from ..errors import DatasetError, UsageError

DEFAULT_MAX_PIXELS = 100_000_000
ENV = "FASTKP_MAX_PIXELS"


def pixel_limit(max_pixels: int | None = None) -> int:
    """``max_pixels``, or where None the user's FASTKP_MAX_PIXELS, else the default."""
    if max_pixels is not None:
        return max_pixels
    value = os.environ.get(ENV, "")
    if not value:
        return DEFAULT_MAX_PIXELS
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise UsageError(f"{ENV} must be a positive integer, got {value!r}", setting="max_pixels")
    return int(value)


def check_max_pixels(n: object) -> int:
    """``n`` if it is a usable limit (a positive int), else the UsageError of ``--max-pixels``."""
    if not isinstance(n, int) or n < 1:
        raise UsageError(f"max_pixels must be a positive integer, got {n!r}", setting="max_pixels")
    return n


def check_pixels(path: str, height: int, width: int, max_pixels: int | None = None) -> None:
    if height * width > pixel_limit(max_pixels):
        raise over_limit(path, f"{width}x{height} is {height * width:,} pixels", max_pixels)


def over_limit(path: str, size: str | None = None, max_pixels: int | None = None) -> DatasetError:
    """The error for an image over the limit (``size`` says how big, where known)."""
    return DatasetError(f"{path}: {f'{size}, ' if size else ''}more than the limit of "
                        f"{pixel_limit(max_pixels):,} pixels ({ENV} or --max-pixels raise it)")


@contextmanager
def pil_limit(max_pixels: int | None = None) -> Iterator[None]:
    """PIL's own bomb check at fastkp's limit (PIL refuses above twice it and warns above
    it; check_pixels refuses anything above the limit), so PIL never refuses what fastkp
    allows; PIL's warnings are silenced (fastkp's checks report problems naming the file)."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = pixel_limit(max_pixels)
    try:
        with warnings.catch_warnings():  # PIL's own warnings (bombs, corrupt EXIF) name no file
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", module=r"PIL\.")
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved
