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
- ``oks_ap``: COCO keypoint AP (mean over OKS thresholds 0.50:0.05:0.95) as
  pycocotools' ``COCOeval(iouType="keypoints")`` computes it, for one prediction per
  ground-truth person.
"""

from __future__ import annotations

import numpy as np

from ..data.coco import COCO_SIGMAS
from ..pipeline.codec import PCK_ALPHA, diagonal

OKS_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)  # as COCOeval's iouThrs
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1)  # as COCOeval's recThrs
MAX_DETS = 20  # COCOeval's maxDets for keypoints
AREA_ALL = (0.0, 1e5**2)  # COCOeval's "all" area range
INTEROCULAR = (36, 45)  # outer eye corners of the 68-point mark-up
NORMS = ("diagonal", "interocular", "bbox", "bbox_max")
FACE_THRESHOLDS = (0.08, 0.1)  # auc_* and fr_*


def _points(pred: np.ndarray, target: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, ...]:
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    visible = np.asarray(visible, bool)
    if pred.ndim != 3 or pred.shape[2] != 2 or pred.shape != target.shape or visible.shape != pred.shape[:2]:
        raise ValueError(f"pred and target must be (N, K, 2) and visible (N, K); got {pred.shape}, "
                         f"{target.shape}, {visible.shape}")
    visible = visible & np.isfinite(target).all(axis=2)
    if not np.isfinite(pred[visible]).all():
        raise ValueError("pred has non-finite coordinates at visible points")
    return pred, target, visible


def _boxes(boxes: np.ndarray | None, n: int, norm: str) -> np.ndarray:
    if boxes is None:
        raise ValueError(f"the {norm!r} normaliser needs boxes")
    boxes = np.asarray(boxes, np.float64)
    if boxes.shape != (n, 4):
        raise ValueError(f"boxes must be (N, 4) = ({n}, 4) as x0, y0, x1, y1; got {boxes.shape}")
    return boxes


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
        boxes = _boxes(boxes, n, norm)
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
    without its normaliser."""
    pred, target, visible = _points(pred, target, visible)
    dist = np.where(visible, np.linalg.norm(np.where(visible[..., None], pred - target, 0.0), axis=2), 0.0)
    count = visible.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return dist.sum(axis=1) / count / normaliser(target, visible, norm, boxes)


def _errors(errors: np.ndarray) -> np.ndarray:
    errors = np.asarray(errors, np.float64).ravel()
    if not len(errors):
        raise ValueError("no errors given")
    if not np.isfinite(errors).all() or (errors < 0).any():
        raise ValueError("errors must be finite and >= 0 (leave out images without an NME)")
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


def _oks(dt: np.ndarray, gt: np.ndarray, vis: np.ndarray, boxes: np.ndarray, areas: np.ndarray,
         sigmas: np.ndarray) -> np.ndarray:
    """(D, G) object keypoint similarity, computed as pycocotools' computeOks does."""
    variances = (sigmas * 2) ** 2
    ious = np.zeros((len(dt), len(gt)))
    for j in range(len(gt)):
        labelled = vis[j] > 0
        x, y, w, h = boxes[j, 0], boxes[j, 1], boxes[j, 2] - boxes[j, 0], boxes[j, 3] - boxes[j, 1]
        if labelled.any():
            dx, dy = dt[:, :, 0] - gt[j, :, 0], dt[:, :, 1] - gt[j, :, 1]
        else:  # distance to the box grown by its size on every side
            x0, x1, y0, y1 = x - w, x + w * 2, y - h, y + h * 2
            dx = np.maximum(0, x0 - dt[:, :, 0]) + np.maximum(0, dt[:, :, 0] - x1)
            dy = np.maximum(0, y0 - dt[:, :, 1]) + np.maximum(0, dt[:, :, 1] - y1)
        e = (dx**2 + dy**2) / variances / (areas[j] + np.spacing(1)) / 2
        if labelled.any():
            e = e[:, labelled]
        ious[:, j] = np.sum(np.exp(-e), axis=1) / e.shape[1]
    return ious


def _match(ious: np.ndarray, gt_ignore: np.ndarray, dt_area: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.evaluateImg for one image: (matched, ignored) (T, D) of the detections in
    score order against the ground truths (columns non-ignored first)."""
    n_t, n_d, n_g = len(OKS_THRESHOLDS), ious.shape[0], ious.shape[1]
    gt_taken = np.zeros((n_t, n_g), bool)
    matched = np.zeros((n_t, n_d), bool)
    ignored = np.zeros((n_t, n_d), bool)
    for t, threshold in enumerate(OKS_THRESHOLDS):
        for d in range(n_d):
            best, m = min(threshold, 1 - 1e-10), -1
            for g in range(n_g):
                if gt_taken[t, g]:  # no crowd ground truths here
                    continue
                if m > -1 and not gt_ignore[m] and gt_ignore[g]:
                    break
                if ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m == -1:
                continue
            ignored[t, d] = gt_ignore[m]
            matched[t, d] = True
            gt_taken[t, m] = True
    outside = (dt_area < AREA_ALL[0]) | (dt_area > AREA_ALL[1])
    ignored |= ~matched & outside[None, :]
    return matched, ignored


def oks_ap(pred: np.ndarray, target: np.ndarray, visibility: np.ndarray, boxes: np.ndarray,
           areas: np.ndarray | None = None, sigmas: np.ndarray = COCO_SIGMAS, scores: np.ndarray | None = None,
           image_ids: np.ndarray | None = None) -> float:
    """COCO keypoint AP, pycocotools' ``stats[0]``: row i is ground-truth person i
    (``target``, ``visibility`` > 0 labelled, ``boxes``, ``areas``, default the box's
    w * h) and one prediction for it (``pred``, scored ``scores``, default 1). Rows of
    one ``image_ids`` value (default: each row its own image) are one image, whose
    predictions are matched greedily as COCOeval matches them. A person without a
    labelled point is ignored, as COCO ignores ``num_keypoints`` 0. NaN when every
    person is ignored (pycocotools reports -1)."""
    pred, target = np.asarray(pred, np.float64), np.nan_to_num(np.asarray(target, np.float64))
    visibility = np.asarray(visibility)
    n, k = pred.shape[:2]
    sigmas = np.asarray(sigmas, np.float64)
    if pred.shape != (n, k, 2) or target.shape != pred.shape or visibility.shape != (n, k) or sigmas.shape != (k,):
        raise ValueError(f"expected pred, target (N, K, 2), visibility (N, K), sigmas (K,); got {pred.shape}, "
                         f"{target.shape}, {visibility.shape}, {sigmas.shape}")
    if not np.isfinite(pred).all():
        raise ValueError("pred has non-finite coordinates")
    boxes = _boxes(boxes, n, "oks")
    box_areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    areas = box_areas if areas is None else np.asarray(areas, np.float64)
    scores = np.ones(n) if scores is None else np.asarray(scores, np.float64)
    image_ids = np.arange(n) if image_ids is None else np.asarray(image_ids)
    if areas.shape != (n,) or scores.shape != (n,) or image_ids.shape != (n,):
        raise ValueError("areas, scores and image_ids must be (N,)")
    gt_ignore = ((visibility > 0).sum(axis=1) == 0) | (areas < AREA_ALL[0]) | (areas > AREA_ALL[1])
    span = pred.max(axis=1) - pred.min(axis=1)
    dt_area = span[:, 0] * span[:, 1]  # as COCO.loadRes sets a keypoint result's area

    all_scores, all_matched, all_ignored = [], [], []
    for image in np.unique(image_ids):
        rows = np.flatnonzero(image_ids == image)
        dts = rows[np.argsort(-scores[rows], kind="mergesort")][:MAX_DETS]
        gts = rows[np.argsort(gt_ignore[rows], kind="mergesort")]
        ious = _oks(pred[dts], target[gts], visibility[gts], boxes[gts], areas[gts], sigmas)
        matched, ignored = _match(ious, gt_ignore[gts], dt_area[dts])
        all_scores.append(scores[dts])
        all_matched.append(matched)
        all_ignored.append(ignored)
    n_gt = int((~gt_ignore).sum())
    if n_gt == 0:
        return float("nan")
    order = np.argsort(-np.concatenate(all_scores), kind="mergesort")
    matched = np.concatenate(all_matched, axis=1)[:, order]
    ignored = np.concatenate(all_ignored, axis=1)[:, order]
    tp_sum = np.cumsum(matched & ~ignored, axis=1).astype(float)
    fp_sum = np.cumsum(~matched & ~ignored, axis=1).astype(float)
    precisions = []
    for tp, fp in zip(tp_sum, fp_sum):
        recall = tp / n_gt
        precision = tp / (fp + tp + np.spacing(1))
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # COCOeval's backward max
        at = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")
        q = np.zeros(len(RECALL_THRESHOLDS))
        inside = at < len(precision)
        q[inside] = precision[at[inside]]
        precisions.append(q)
    return float(np.mean(precisions))


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
        return errors[np.isfinite(errors)]

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
