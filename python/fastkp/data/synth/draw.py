"""Drawing shared by the generators: backgrounds, clutter and exactly centred ellipses.

Coordinates follow fastkp's convention: pixel ``(i, j)`` covers
``[i, i+1) x [j, j+1)``, so its centre is at ``(i + 0.5, j + 0.5)`` and an
ellipse drawn at ``(cx, cy)`` has its centroid there.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

Colour = tuple[float, float, float]
SKIN: tuple[Colour, ...] = ((255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36))
HAIR: tuple[Colour, ...] = ((30, 20, 15), (90, 56, 37), (180, 140, 80), (120, 120, 120), (60, 30, 20))


def gradient(rng: np.random.Generator, size: tuple[int, int], saturation: float = 1.0) -> np.ndarray:
    """Float32 (H, W, 3) linear gradient between two random colours, plus pixel noise.

    ``saturation`` < 1 pulls the colours towards grey (for backgrounds that
    must not compete with coloured objects).
    """
    h, w = size
    ends = rng.uniform(0, 255, (2, 3))
    ends = ends.mean(axis=1, keepdims=True) + saturation * (ends - ends.mean(axis=1, keepdims=True))
    angle = rng.uniform(0, 2 * math.pi)
    x = np.linspace(0, math.cos(angle), w, dtype=np.float32)
    y = np.linspace(0, math.sin(angle), h, dtype=np.float32)[:, None]
    t = x + y
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = ends[0].astype(np.float32) + t[..., None] * (ends[1] - ends[0]).astype(np.float32)
    img += rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(rng.uniform(2, 12))
    return img


def clutter(rng: np.random.Generator, img: np.ndarray, count: int) -> np.ndarray:
    """Draw ``count`` random rectangles, polygons and lines onto ``img`` (float (H, W, 3))."""
    h, w = img.shape[:2]
    canvas = Image.fromarray(to_uint8(img))
    pen = ImageDraw.Draw(canvas)
    for _ in range(count):
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(3)
        x, y = rng.uniform(0, w, 2), rng.uniform(0, h, 2)
        if kind == 0:
            pen.rectangle([min(x), min(y), max(x), max(y)], fill=fill)
        elif kind == 1:
            pts = np.stack([rng.uniform(0, w, 3), rng.uniform(0, h, 3)], axis=1)
            pen.polygon([tuple(p) for p in pts.tolist()], fill=fill)
        else:
            pen.line([x[0], y[0], x[1], y[1]], fill=fill, width=int(rng.integers(2, 8)))
    return np.asarray(canvas, dtype=np.float32)


def fill_ellipse(
    img: np.ndarray, centre: tuple[float, float], radii: tuple[float, float], angle: float, colour: Colour
) -> None:
    """Blend an anti-aliased ellipse into ``img`` in place; ``angle`` (radians) turns its x axis."""
    h, w = img.shape[:2]
    (cx, cy), (rx, ry) = centre, radii
    reach = max(rx, ry) + 1
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, w)
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    dx = np.arange(x0, x1) + 0.5 - cx
    dy = np.arange(y0, y1)[:, None] + 0.5 - cy
    c, s = math.cos(angle), math.sin(angle)
    u, v = (dx * c + dy * s) / rx, (dy * c - dx * s) / ry
    # Distance to the outline in pixels, approximately, gives a one-pixel soft edge.
    alpha = np.clip((1 - np.sqrt(u * u + v * v)) * min(rx, ry) + 0.5, 0, 1).astype(np.float32)
    patch = img[y0:y1, x0:x1]
    patch += alpha[..., None] * (np.asarray(colour, np.float32) - patch)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round and clip a float image to uint8."""
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def save(img: np.ndarray, path: Path) -> None:
    """Write a float (H, W, 3) image; JPEG at quality 90 or PNG by the suffix."""
    options = {"quality": 90} if path.suffix == ".jpg" else {}
    Image.fromarray(to_uint8(img)).save(path, **options)


def jitter(rng: np.random.Generator, colour: Colour, amount: float) -> Colour:
    """``colour`` with each channel moved by up to +-``amount``."""
    c = np.clip(np.asarray(colour) + rng.uniform(-amount, amount, 3), 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))
