"""Large images brought near a deployed model's input size, in uint8, before the model sees them.

The model resizes inside (``F.interpolate``, bilinear, ``align_corners=False``, no
antialias) from a float copy of the whole image: 12 bytes a pixel, 1.2 GB for a
10000 x 10000 picture. That resize reads two rows per output row (and two columns per
output column), at source position ``s_i = (n / S) * (i + 0.5) - 0.5``. An image of
``n - m * S`` rows, ``m`` even, is read at ``s_i - m * i - m / 2``: the same fractions,
so the same weights. :func:`sampled_frame` builds that smaller frame (``m`` as large as
keeps two rows between samples: 2S to 4S rows) holding, where the model will read, the
exact uint8 rows and columns it would have read from the image, taken from the decoded
PIL image one row at a time. The model's answer in that frame's pixels goes back to the
image's by the squash's two factors (points are proportional to the frame).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

LARGE = 1 << 22  # pixels (2048 x 2048): above this, predict gives the model the sample


def source_index(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, second, weight of second) source index per output index, as PyTorch's
    ``area_pixel_compute_source_index`` in float32 for ``align_corners=False``."""
    scale = np.float32(n_in) / np.float32(n_out)
    src = np.maximum(scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5),
                     np.float32(0))
    first = src.astype(np.int64)  # floor: src >= 0
    second = np.minimum(first + 1, n_in - 1)
    return first, second, (src - first.astype(np.float32)).astype(np.float32)


def _frame_index(n_in: int, n_out: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(frame length, the source rows, where they go in the frame): rows of the model's two
    reads per output, in the image and in a frame of ``n_in - m * n_out`` rows."""
    m = 2 * int((n_in / n_out - 2) // 2) if n_in >= 4 * n_out else 0
    n_frame = n_in - m * n_out
    first, second, _ = source_index(n_in, n_out)
    f_first, f_second, _ = source_index(n_frame, n_out)
    return n_frame, np.concatenate([first, second]), np.concatenate([f_first, f_second])


def sampled_frame(im: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """(H', W', 3) uint8, H' and W' between 2 and 4 times ``size`` (or the image's own where
    smaller): what the deployed model reads of the RGB image ``im`` when resizing it to
    ``size``, where it reads it in a frame of that size (zeros elsewhere)."""
    height, rows, frame_rows = _frame_index(im.height, size[0])
    width, cols, frame_cols = _frame_index(im.width, size[1])
    frame = np.zeros((height, width, 3), np.uint8)
    for row, frame_row in zip(rows.tolist(), frame_rows.tolist()):
        frame[frame_row, frame_cols] = np.asarray(im.crop((0, row, im.width, row + 1)))[0, cols]
    return frame


def display_copy(im: Image.Image, longest: int = 2048) -> np.ndarray:
    """A copy small enough to keep for drawing (``--plot``), box-filtered in uint8."""
    factor = max(1, -(-max(im.size) // longest))
    return np.asarray(im.reduce(factor) if factor > 1 else im).copy()
