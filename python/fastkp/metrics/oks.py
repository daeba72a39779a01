"""COCO keypoint AP: ``oks_ap`` as pycocotools' ``COCOeval(iouType="keypoints")`` computes
``stats[0]`` (object keypoint similarity, greedy matching per image, 101-point precision),
for one prediction per ground-truth person. A point the model could not place (a
non-finite coordinate) adds nothing to its person's OKS."""

from __future__ import annotations

import warnings

import numpy as np

from ..data.coco import COCO_SIGMAS

OKS_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)  # as COCOeval's iouThrs
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1)  # as COCOeval's recThrs
MAX_DETS = 20  # COCOeval's maxDets for keypoints
AREA_ALL = (0.0, 1e5**2)  # COCOeval's "all" area range


def far(pred: np.ndarray) -> np.ndarray:
    """``pred`` with every point that has a non-finite coordinate at infinity: a point the
    model could not place is a miss in every metric (as mmpose counts it in PCK)."""
    pred = np.asarray(pred, np.float64)
    return np.where(np.isfinite(pred).all(axis=-1, keepdims=True), pred, np.inf)


def boxes_array(boxes: np.ndarray | None, n: int, norm: str) -> np.ndarray:
    if boxes is None:
        raise ValueError(f"the {norm!r} normaliser needs boxes")
    boxes = np.asarray(boxes, np.float64)
    if boxes.shape != (n, 4):
        raise ValueError(f"boxes must be (N, 4) = ({n}, 4) as x0, y0, x1, y1; got {boxes.shape}")
    return boxes


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
    boxes = boxes_array(boxes, n, "oks")
    box_areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    areas = box_areas if areas is None else np.asarray(areas, np.float64)
    scores = np.ones(n) if scores is None else np.asarray(scores, np.float64)
    image_ids = np.arange(n) if image_ids is None else np.asarray(image_ids)
    if areas.shape != (n,) or scores.shape != (n,) or image_ids.shape != (n,):
        raise ValueError("areas, scores and image_ids must be (N,)")
    gt_ignore = ((visibility > 0).sum(axis=1) == 0) | (areas < AREA_ALL[0]) | (areas > AREA_ALL[1])
    placed = np.where(np.isfinite(pred).all(axis=-1, keepdims=True), pred, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a person with no point placed: NaN area
        span = np.nanmax(placed, axis=1) - np.nanmin(placed, axis=1)
    dt_area = span[:, 0] * span[:, 1]  # as COCO.loadRes sets a keypoint result's area
    pred = far(pred)

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
