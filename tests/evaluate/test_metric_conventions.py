"""The metric conventions docs/tasks.md states, written out here independently with loops,
checked against fastkp.metrics.keypoints: NME per image then averaged over images, PCK
pooled over points, AUC the area under the CED divided by its threshold; where mmpose's
functions pool or average differently, both conventions are written out and compared.
A point predicted as NaN is a miss in every metric."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastkp.metrics import keypoints as km


@pytest.fixture
def case():
    rng = np.random.default_rng(7)
    n, k = 9, 6
    target = rng.uniform(10, 90, (n, k, 2))
    pred = target + rng.normal(0, 4, target.shape)
    visible = rng.random((n, k)) > 0.25  # images with different numbers of labelled points
    visible[:, 0] = True
    boxes = np.column_stack([target.min(1) - 5, target.max(1) + 5])
    return pred, target, visible, boxes


def _dist(p, t) -> float:
    return math.hypot(p[0] - t[0], p[1] - t[1])


def nme_per_image_then_mean(pred, target, visible, boxes):
    """fastkp's nme_bbox: each image's mean error over its labelled points / sqrt(w h), then
    the mean over images (the face-alignment papers' convention)."""
    per_image = []
    for i in range(len(pred)):
        errors = [_dist(pred[i, j], target[i, j]) for j in range(pred.shape[1]) if visible[i, j]]
        w, h = boxes[i, 2] - boxes[i, 0], boxes[i, 3] - boxes[i, 1]
        per_image.append(sum(errors) / len(errors) / math.sqrt(w * h))
    return sum(per_image) / len(per_image), per_image


def nme_pooled_like_mmpose(pred, target, visible, boxes):
    """mmpose's keypoint_nme(pred, gt, mask, normalize_factor): every labelled point's error
    over its image's factor, averaged over all points at once."""
    errors = []
    for i in range(len(pred)):
        w, h = boxes[i, 2] - boxes[i, 0], boxes[i, 3] - boxes[i, 1]
        errors += [_dist(pred[i, j], target[i, j]) / math.sqrt(w * h) for j in range(pred.shape[1]) if visible[i, j]]
    return sum(errors) / len(errors)


def test_nme_is_per_image_then_over_images(case):
    pred, target, visible, boxes = case
    want, per_image = nme_per_image_then_mean(pred, target, visible, boxes)
    np.testing.assert_allclose(km.nme(pred, target, visible, "bbox", boxes), per_image, rtol=1e-12)
    report = km.keypoint_report(pred, target, visible.astype(np.int8) * 2, boxes)
    assert report["nme_bbox"] == pytest.approx(want, rel=1e-12)
    # mmpose pools over points: the same only when every image has as many labelled points
    assert want != pytest.approx(nme_pooled_like_mmpose(pred, target, visible, boxes), rel=1e-6)
    full = np.ones_like(visible)
    assert nme_per_image_then_mean(pred, target, full, boxes)[0] == pytest.approx(
        nme_pooled_like_mmpose(pred, target, full, boxes), rel=1e-12)


def test_pck_is_pooled_over_points(case):
    """fastkp's pck_0.1: the share of all labelled points within 0.1 x their box's larger side.
    mmpose's keypoint_pck_accuracy averages per-keypoint accuracies instead (its avg_acc)."""
    pred, target, visible, boxes = case
    pred = target + (pred - target) * 3  # errors near the threshold
    hits = total = 0
    per_point = {j: [0, 0] for j in range(pred.shape[1])}
    for i in range(len(pred)):
        side = max(boxes[i, 2] - boxes[i, 0], boxes[i, 3] - boxes[i, 1])
        for j in range(pred.shape[1]):
            if visible[i, j]:
                hit = _dist(pred[i, j], target[i, j]) < 0.1 * side
                hits, total = hits + hit, total + 1
                per_point[j][0] += hit
                per_point[j][1] += 1
    assert km.pck(pred, target, visible, "bbox_max", 0.1, boxes) == pytest.approx(hits / total, rel=1e-12)
    mmpose_avg = np.mean([h / n for h, n in per_point.values() if n])
    count, _, pck_per_point = km.per_point(pred, target, visible, boxes)
    assert np.mean(pck_per_point[count > 0]) == pytest.approx(mmpose_avg, rel=1e-12)


def test_auc_is_the_area_under_the_ced_over_its_threshold(case):
    pred, target, visible, boxes = case
    _, errors = nme_per_image_then_mean(pred, target, visible, boxes)
    threshold, steps = 0.08, 200_000
    # the CED (share of images with error <= e) integrated from 0 to the threshold, by midpoints
    area = sum(sum(e <= (s + 0.5) * threshold / steps for e in errors) / len(errors) for s in range(steps))
    assert km.auc(np.array(errors), threshold) == pytest.approx(area / steps, abs=1e-5)
    assert km.failure_rate(np.array(errors), threshold) == sum(e > threshold for e in errors) / len(errors)


def test_a_nan_prediction_is_a_miss_in_every_metric(case):
    pred, target, visible, boxes = case
    visibility = visible.astype(np.int8) * 2
    missed = pred.copy()
    missed[0, 0] = np.nan
    far = pred.copy()
    far[0, 0] += 1e4  # what a miss must score like where a metric is bounded (far, yet in COCO's area range)
    got = km.keypoint_report(missed, target, visibility, boxes, coco=False)
    bounded = km.keypoint_report(far, target, visibility, boxes, coco=False)
    assert math.isinf(got["nme"]) and math.isinf(got["nme_bbox"])
    for name in ("auc_0.08", "fr_0.08", "auc_0.1", "fr_0.1", "pck_0.1"):
        assert got[name] == pytest.approx(bounded[name]), name
    assert math.isinf(km.rmse_px(missed, target, visible))
    sigmas = np.full(pred.shape[1], 0.05)
    assert km.oks_ap(missed, target, visibility, boxes, sigmas=sigmas) == pytest.approx(
        km.oks_ap(far, target, visibility, boxes, sigmas=sigmas))
