"""Augmentation settings and the per-sample draws both loaders apply.

Every draw is made here, in vectorised numpy, and becomes one source-to-output
pixel matrix per sample (see :mod:`fastkp.pipeline.geometry`) plus a brightness
and a contrast per sample. The DALI loader and the reference loader receive the
same draws for the same ``seed``, so they cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from .geometry import HW, compose, invert, resize_matrix

PAD_MODES = ("border", "constant")


@dataclass(frozen=True)
class AugConfig:
    """Training augmentation, with fastai ``aug_transforms`` defaults where DALI can honour them.

    - ``do_flip``: horizontal flip with probability 0.5 (points swap sides through
      ``flip_index``).
    - ``max_rotate``: rotation by U(-max_rotate, max_rotate) degrees, rigid in output pixels.
    - ``min_zoom``/``max_zoom``: zoom by U(min_zoom, max_zoom) about a random centre chosen so
      that a zoomed-in view stays inside the image (fastai's ``Zoom``).
    - ``max_warp``: fastai's ``Warp`` is a perspective warp, which one affine matrix cannot
      express; here it is a skew ``[[1, kx], [ky, 1]]`` in [-1, 1] coordinates with kx, ky
      drawn from U(-max_warp, max_warp). Corners move by up to ``max_warp`` as in fastai, but
      parallel lines stay parallel.
    - rotate, zoom and warp are each applied with probability ``p_affine``.
    - ``max_lighting``: brightness and contrast, each applied with probability ``p_lighting``:
      ``v' = 0.5 + c * (v - 0.5) + b`` on [0, 1] pixels with ``b ~ U(-max_lighting/2,
      max_lighting/2)`` and ``log c ~ U(log(1 - max_lighting), -log(1 - max_lighting))``.
      fastai applies the same ranges in logit space; this is its first-order (mid-grey)
      equivalent, linear so that it folds into the normalisation at no cost, and unclipped.
    - ``min_scale`` < 1: a random crop of U(min_scale, 1) of the image area, with the image's
      aspect ratio, at a uniform position, taken before the other transforms and squashed to
      the output size (fastai's ``RandomResizedCrop`` with ``ratio=(1, 1)``). Points follow it.
    - ``pad_mode``: what shows where the view leaves the image: ``"border"`` repeats the edge
      pixels, ``"constant"`` shows black. DALI's ``warp_affine`` has no reflection padding
      (fastai's default).
    - ``box_scale``, ``box_shift``: with box crops (:mod:`fastkp.pipeline.boxes`), the window's
      width and height are multiplied by U(1 - box_scale, 1 + box_scale) and its centre moves by
      U(-box_shift, box_shift) of its width and height, before the other transforms.
    """

    do_flip: bool = True
    max_rotate: float = 10.0
    min_zoom: float = 1.0
    max_zoom: float = 1.1
    max_warp: float = 0.2
    max_lighting: float = 0.2
    p_affine: float = 0.75
    p_lighting: float = 0.75
    min_scale: float = 1.0
    pad_mode: str = "border"
    box_scale: float = 0.25
    box_shift: float = 0.1

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, want: str) -> None:
            if not ok:
                raise UsageError(f"AugConfig.{name} must be {want}, got {getattr(self, name)!r}", setting=name)

        check("do_flip", isinstance(self.do_flip, bool), "a bool")
        check("max_rotate", 0.0 <= self.max_rotate <= 180.0, "in [0, 180]")
        check("min_zoom", self.min_zoom > 0.0, "positive")
        check("max_zoom", self.max_zoom >= self.min_zoom, "at least min_zoom")
        check("max_warp", 0.0 <= self.max_warp < 1.0, "in [0, 1)")
        check("max_lighting", 0.0 <= self.max_lighting < 1.0, "in [0, 1)")
        check("p_affine", 0.0 <= self.p_affine <= 1.0, "in [0, 1]")
        check("p_lighting", 0.0 <= self.p_lighting <= 1.0, "in [0, 1]")
        check("min_scale", 0.0 < self.min_scale <= 1.0, "in (0, 1]")
        check("pad_mode", self.pad_mode in PAD_MODES, f"one of {PAD_MODES}")
        check("box_scale", 0.0 <= self.box_scale < 1.0, "in [0, 1)")
        check("box_shift", 0.0 <= self.box_shift <= 1.0, "in [0, 1]")


@dataclass
class Draws:
    """Per-sample augmentation of N samples."""

    matrix: np.ndarray  # (N, 2, 3) float64, source pixels -> output pixels
    flipped: np.ndarray  # (N,) bool
    contrast: np.ndarray  # (N,) float64, c above
    brightness: np.ndarray  # (N,) float64, b above

    def take(self, index: np.ndarray) -> Draws:
        """The draws of the samples at ``index``."""
        return Draws(self.matrix[index], self.flipped[index], self.contrast[index],
                     self.brightness[index])


def _diag(sx: np.ndarray | float, sy: np.ndarray | float) -> np.ndarray:
    sx, sy = np.broadcast_arrays(np.asarray(sx, np.float64), np.asarray(sy, np.float64))
    m = np.zeros(sx.shape + (2, 3))
    m[..., 0, 0], m[..., 1, 1] = sx, sy
    return m


def _to_unit(x0, y0, w, h) -> np.ndarray:
    """Pixels of the window (x0, y0, w, h) -> [-1, 1] coordinates of that window."""
    m = _diag(2.0 / w, 2.0 / h)
    m[..., 0, 2] = -2.0 * x0 / w - 1.0
    m[..., 1, 2] = -2.0 * y0 / h - 1.0
    return m


def _to_out(out_hw: HW) -> np.ndarray:
    """[-1, 1] coordinates of the output frame -> its pixels."""
    return invert(_to_unit(0.0, 0.0, float(out_hw[1]), float(out_hw[0])))


def no_augmentation(src_hw: np.ndarray, out_hw: HW, windows: np.ndarray | None = None) -> Draws:
    """Resize only (the draws of validation): the whole image, or each (x0, y0, w, h) window
    of ``windows`` (N, 4), squashed onto the output frame."""
    n = len(src_hw)
    if windows is None:
        matrix = resize_matrix(src_hw, out_hw)
    else:
        win = np.asarray(windows, np.float64)
        matrix = compose(_to_out(out_hw), _to_unit(win[:, 0], win[:, 1], win[:, 2], win[:, 3]))
    return Draws(matrix, np.zeros(n, bool), np.ones(n), np.zeros(n))


def draw(rng: np.random.Generator, src_hw: np.ndarray, out_hw: HW, cfg: AugConfig,
         windows: np.ndarray | None = None) -> Draws:
    """Draw the augmentation of ``len(src_hw)`` images of sizes ``src_hw`` (N, 2) (height,
    width) for an output of size ``out_hw``; ``windows`` (N, 4) (x0, y0, w, h) are box crops
    (jittered here), else each image is its whole frame.

    The matrix crops the source to its window's [-1, 1] coordinates, flips, skews, rotates
    and zooms there, then scales [-1, 1] to output pixels."""
    src = np.asarray(src_hw, np.float64)
    n = len(src)
    oh, ow = out_hw
    one = np.ones(n)

    def uniform(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, n)

    def applied(p: float) -> np.ndarray:
        return rng.random(n) < p

    # a crop of U(min_scale, 1) of the window's area at a uniform place (the whole window when
    # min_scale == 1); drawn first, built last, when the window's jitter is known
    side = np.sqrt(uniform(cfg.min_scale, 1.0))
    at_x, at_y = uniform(0.0, 1.0), uniform(0.0, 1.0)

    flipped = applied(0.5) & cfg.do_flip
    flip = _diag(np.where(flipped, -1.0, 1.0), one)

    skew = _diag(one, one)
    skew_on = applied(cfg.p_affine)
    skew[:, 0, 1] = np.where(skew_on, uniform(-cfg.max_warp, cfg.max_warp), 0.0)
    skew[:, 1, 0] = np.where(skew_on, uniform(-cfg.max_warp, cfg.max_warp), 0.0)

    # a rotation rigid in output pixels, conjugated into [-1, 1] coordinates
    t = np.deg2rad(np.where(applied(cfg.p_affine), uniform(-cfg.max_rotate, cfg.max_rotate), 0.0))
    rot = _diag(np.cos(t), np.cos(t))
    rot[:, 0, 1] = -np.sin(t) * oh / ow
    rot[:, 1, 0] = np.sin(t) * ow / oh

    # fastai's Zoom: the view (1/zoom of the frame) is centred at (1 - 1/zoom) * U(-1, 1)
    z = np.where(applied(cfg.p_affine), uniform(cfg.min_zoom, cfg.max_zoom), 1.0)
    zoom = _diag(z, z)
    zoom[:, 0, 2] = -(z - 1.0) * uniform(-1.0, 1.0)
    zoom[:, 1, 2] = -(z - 1.0) * uniform(-1.0, 1.0)

    ml = cfg.max_lighting
    brightness = np.where(applied(cfg.p_lighting), uniform(-ml / 2, ml / 2), 0.0)
    log_c = abs(math.log(1.0 - ml))  # = -log(1 - ml), but 0.0 rather than -0.0 at ml = 0
    contrast = np.where(applied(cfg.p_lighting), np.exp(uniform(-log_c, log_c)), 1.0)

    if windows is None:
        x0, y0, w, h = np.zeros(n), np.zeros(n), src[:, 1], src[:, 0]
    else:  # box jitter, drawn after everything else so that whole-image draws stay as they were
        x0, y0, w, h = np.asarray(windows, np.float64).T
        scale = uniform(1.0 - cfg.box_scale, 1.0 + cfg.box_scale)
        cx = x0 + w * (0.5 + uniform(-cfg.box_shift, cfg.box_shift))
        cy = y0 + h * (0.5 + uniform(-cfg.box_shift, cfg.box_shift))
        w, h = w * scale, h * scale
        x0, y0 = cx - w / 2, cy - h / 2
    cw, ch = side * w, side * h
    crop = _to_unit(x0 + at_x * (w - cw), y0 + at_y * (h - ch), cw, ch)
    matrix = compose(np.broadcast_to(_to_out(out_hw), crop.shape), zoom, rot, skew, flip, crop)
    return Draws(matrix, flipped, contrast, brightness)
