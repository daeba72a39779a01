"""Decoding an image as displayed, and the size check both loaders apply to what they decode."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

from ..data import DatasetError
from ..data.pixels import check_pixels, over_limit, pil_limit

T = TypeVar("T")


def decode_rgb(path: str, max_pixels: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 pixels of the image as displayed (EXIF orientation applied); images
    over ``max_pixels`` (fastkp.data.pixels) are refused from their header."""
    return with_rgb(path, np.array, max_pixels)


def with_rgb(path: str, use: Callable[[Image.Image], T], max_pixels: int | None = None) -> T:
    """``use(image)`` of the decoded RGB PIL image as displayed, without copies of it
    (EXIF orientation applied in place); errors as :func:`decode_rgb`."""
    try:
        with pil_limit(max_pixels), Image.open(path) as im:
            check_pixels(path, im.height, im.width, max_pixels)
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
            if im.mode.startswith("I;16"):  # 16-bit grey: scale to 8 bits as DALI does
                im = Image.fromarray(np.round(np.asarray(im) / 257.0).astype(np.uint8))
            return use(im if im.mode == "RGB" else im.convert("RGB"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing image") from None
    except Image.DecompressionBombError:
        raise over_limit(path, max_pixels=max_pixels) from None
    except (OSError, ValueError, SyntaxError) as err:
        raise DatasetError(f"{path}: cannot decode the image ({err})") from None


def size_mismatch(path: str, actual: Sequence[int], expected: Sequence[int]) -> DatasetError:
    return DatasetError(f"{path}: image is {tuple(int(v) for v in actual)} (height, width) as "
                        f"displayed, but its Sample.size says {tuple(int(v) for v in expected)}")


def decode_checked(path: str, hw: Sequence[int], max_pixels: int | None = None) -> np.ndarray:
    """decode_rgb, and a DatasetError unless the image is ``hw`` (height, width)."""
    pixels = decode_rgb(path, max_pixels)
    if pixels.shape[:2] != tuple(hw):
        raise size_mismatch(path, pixels.shape[:2], hw)
    return pixels
