"""Keypoint metrics as papers report them, over whole arrays in pixels (numpy).

Inputs: ``pred`` and ``target`` (N, K, 2) pixel coordinates, ``visible`` (N, K) bool
(the points to score; labelled points, NaN targets excluded), ``boxes`` (N, 4) as
(x0, y0, x1, y1).

- ``nme``: per image, the mean distance over its visible points divided by a named
  normaliser: ``"diagonal"`` (the target visible points' box diagonal, at least one
  pixel: ``metrics.nme``'s meaning), ``"interocular"`` (68 points only: the distance
  between the outer eye corners 36 and 45, the 300W convention), ``"bbox"``
  (sqrt(w * h) of the box) or ``"bbox_max"`` (max(w, h) of the box);
- ``ced``, ``auc``, ``failure_rate``: the cumulative error distribution of per-image
  NME, its area up to a threshold divided by the threshold (in [0, 1]; the exact area
  of the step function), and the share of images above the threshold;
- ``pck``: share of visible points closer than ``alpha`` times a named normaliser;
- ``oks_ap`` (:mod:`.oks`): COCO keypoint AP (mean over OKS thresholds 0.50:0.05:0.95)
  as pycocotools' ``COCOeval(iouType="keypoints")`` computes it, for one prediction per
  ground-truth person.
"""

from __future__ import annotations

import numpy as np

from ..data.coco import COCO_SIGMAS
from .oks import boxes_array, far, oks_ap
from ..pipeline.codec import PCK_ALPHA, diagonal

INTEROCULAR = (36, 45)  # outer eye corners of the 68-point mark-up
NORMS = ("diagonal", "interocular", "bbox", "bbox_max")
FACE_THRESHOLDS = (0.08, 0.1)  # auc_* and fr_*


def _points(pred: np.ndarray, target: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, ...]:
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    visible = np.asarray(visible, bool)
    if pred.ndim != 3 or pred.shape[2] != 2 or pred.shape != target.shape or visible.shape != pred.shape[:2]:
        raise ValueError(f"pred and target must be (N, K, 2) and visible (N, K); got {pred.shape}, "
                         f"{target.shape}, {visible.shape}")
    return far(pred), target, visible & np.isfinite(target).all(axis=2)


def normaliser(target: np.ndarray, visible: np.ndarray, norm: str, boxes: np.ndarray | None = None) -> np.ndarray:
    """(N,) the named normaliser of each image (see the module docstring); NaN where it
    cannot be measured (no visible point, an eye corner not labelled, an empty box)."""
    target = np.asarray(target, np.float64)
    visible = np.asarray(visible, bool) & np.isfinite(target).all(axis=2)
    n, k = target.shape[:2]
    if norm == "diagonal":
        return diagonal(target, visible)
    if norm == "interocular":
        if k != 68:
            raise ValueError(f"the interocular normaliser is defined for the 68-point mark-up, not K = {k}")
        a, b = INTEROCULAR
        value = np.linalg.norm(target[:, a] - target[:, b], axis=1)
    elif norm in ("bbox", "bbox_max"):
        boxes = boxes_array(boxes, n, norm)
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        with np.errstate(invalid="ignore"):
            value = np.sqrt(w * h) if norm == "bbox" else np.maximum(w, h)
        value = np.where((w > 0) & (h > 0), value, np.nan)
    else:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return np.where(value > 0, value, np.nan)


def nme(pred: np.ndarray, target: np.ndarray, visible: np.ndarray, norm: str = "diagonal",
        boxes: np.ndarray | None = None) -> np.ndarray:
    """(N,) per-image normalised mean error; NaN for an image without a visible point or
    without its normaliser, inf for one with a point the model could not place."""
    pred, target, visible = _points(pred, target, visible)
    dist = np.where(visible, np.linalg.norm(np.where(visible[..., None], pred - target, 0.0), axis=2), 0.0)
    count = visible.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return dist.sum(axis=1) / count / normaliser(target, visible, norm, boxes)


def _errors(errors: np.ndarray) -> np.ndarray:
    errors = np.asarray(errors, np.float64).ravel()
    if not len(errors):
        raise ValueError("no errors given")
    if np.isnan(errors).any() or (errors < 0).any():
        raise ValueError("errors must be >= 0, inf for a miss (leave out images without an NME)")
    return errors


def ced(errors: np.ndarray, max_error: float, steps: int = 1001) -> tuple[np.ndarray, np.ndarray]:
    """The cumulative error distribution: ``steps`` thresholds from 0 to ``max_error`` and
    the share of images whose error is at most each."""
    errors = np.sort(_errors(errors))
    thresholds = np.linspace(0.0, max_error, steps)
    return thresholds, np.searchsorted(errors, thresholds, side="right") / len(errors)


def auc(errors: np.ndarray, threshold: float) -> float:
    """Area under the CED from 0 to ``threshold``, divided by ``threshold`` (1 = every
    error is 0): exactly ``mean(clip(1 - e / threshold, 0, 1))``."""
    return float(np.clip(1.0 - _errors(errors) / threshold, 0.0, 1.0).mean())


def failure_rate(errors: np.ndarray, threshold: float) -> float:
    """Share of images whose error is above ``threshold``."""
    return float((_errors(errors) > threshold).mean())


def pck(pred: np.ndarray, target: np.ndarray, visible: np.ndarray, norm: str = "bbox_max", alpha: float = PCK_ALPHA,
        boxes: np.ndarray | None = None) -> float:
    """Share of the visible points closer than ``alpha`` times their image's normaliser
    (points of images without one are left out); NaN without any point."""
    pred, target, visible = _points(pred, target, visible)
    scale = normaliser(target, visible, norm, boxes)
    visible = visible & np.isfinite(scale)[:, None]
    dist = np.linalg.norm(np.where(visible[..., None], pred - target, 0.0), axis=2)
    n = int(visible.sum())
    return float(((dist < alpha * scale[:, None]) & visible).sum() / n) if n else float("nan")


def rmse_px(pred: np.ndarray, target: np.ndarray, visible: np.ndarray) -> float:
    """sqrt(mean squared distance) in pixels over the visible points, pooled (training's
    ``rmse_px_image`` over every labelled point); inf with a miss, NaN without points."""
    pred, target, visible = _points(pred, target, visible)
    d2 = np.square(np.where(visible[..., None], pred - target, 0.0)).sum(axis=2)
    n = int(visible.sum())
    return float(np.sqrt(d2.sum() / n)) if n else float("nan")


def per_point(pred: np.ndarray, target: np.ndarray, visible: np.ndarray,
              boxes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per keypoint over the images where it is visible: the count (K,), the mean distance in
    pixels (K,) and the PCK at ``PCK_ALPHA`` with ``pck_0.1``'s normaliser (K,) (NaN for a
    point never visible): the view DeepLabCut and mmpose users read."""
    pred, target, visible = _points(pred, target, visible)
    scale = normaliser(target, visible, "bbox_max" if boxes is not None else "diagonal", boxes)
    dist = np.linalg.norm(np.where(visible[..., None], pred - target, 0.0), axis=2)
    count = visible.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(visible, dist, 0.0).sum(axis=0) / count
        scored = visible & np.isfinite(scale)[:, None]
        hits = ((dist < PCK_ALPHA * scale[:, None]) & scored).sum(axis=0) / scored.sum(axis=0)
    return count, np.where(count > 0, mean, np.nan), hits


def primary_norm(k: int, has_boxes: bool) -> str:
    """The normaliser of ``auc_*`` and ``fr_*``: interocular for 68 points, else the box's
    sqrt(w * h) when there are boxes, else the points' diagonal."""
    return "interocular" if k == 68 else "bbox" if has_boxes else "diagonal"


def metric_names(k: int, has_boxes: bool, coco: bool) -> list[str]:
    """The metrics that apply to K points with or without boxes (``coco``: the 17 COCO
    person keypoints, for ``oks_ap``), in the order ``keypoint_report`` returns them."""
    names = ["nme"] + ["nme_interocular"] * (k == 68) + ["nme_bbox"] * has_boxes
    names += [f"{what}_{t:g}" for t in FACE_THRESHOLDS for what in ("auc", "fr")]
    names += [f"pck_{PCK_ALPHA:g}"] + ["oks_ap"] * (coco and has_boxes and k == len(COCO_SIGMAS))
    return names


def keypoint_report(pred: np.ndarray, target: np.ndarray, visibility: np.ndarray, boxes: np.ndarray | None = None,
                    areas: np.ndarray | None = None, coco: bool = False, image_ids: np.ndarray | None = None,
                    scores: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of ``metric_names``: NMEs are means over the images that have one
    (visible = ``visibility`` > 0), ``auc_*``/``fr_*`` use ``primary_norm``, ``pck_0.1``
    the box's larger side (the points' diagonal without boxes)."""
    visibility = np.asarray(visibility)
    visible = visibility > 0
    k, has_boxes = visibility.shape[1], boxes is not None
    out: dict[str, float] = {}

    def mean_nme(norm: str) -> np.ndarray:
        errors = nme(pred, target, visible, norm, boxes)
        return errors[~np.isnan(errors)]  # an image without a normaliser has none; a miss is inf

    for name in metric_names(k, has_boxes, coco):
        if name.startswith("nme"):
            errors = mean_nme(name.partition("_")[2] or "diagonal")
            out[name] = float(errors.mean()) if len(errors) else float("nan")
    primary = mean_nme(primary_norm(k, has_boxes))
    for t in FACE_THRESHOLDS:
        out[f"auc_{t:g}"] = auc(primary, t) if len(primary) else float("nan")
        out[f"fr_{t:g}"] = failure_rate(primary, t) if len(primary) else float("nan")
    out[f"pck_{PCK_ALPHA:g}"] = pck(pred, target, visible, "bbox_max" if has_boxes else "diagonal", PCK_ALPHA, boxes)
    if "oks_ap" in metric_names(k, has_boxes, coco):
        out["oks_ap"] = oks_ap(pred, target, visibility, boxes, areas, scores=scores, image_ids=image_ids)
    return {name: out[name] for name in metric_names(k, has_boxes, coco)}
