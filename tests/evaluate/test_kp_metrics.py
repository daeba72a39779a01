"""Keypoint metrics against hand-computed values, the training metrics' NME, and
pycocotools' COCOeval for OKS-AP."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from fastkp.metrics import keypoints as km

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def _one(points) -> np.ndarray:
    return np.array([points], np.float64)


def test_nme_diagonal_by_hand():
    target = _one([(0, 0), (3, 4), (9, 9)])
    visible = np.array([[True, True, False]])  # the box of the visible points: 3 x 4, diagonal 5
    pred = target + _one([(3, 4), (0, 0), (50, 50)])
    np.testing.assert_allclose(km.nme(pred, target, visible), [(5 + 0) / 2 / 5])


def test_nme_diagonal_is_the_training_metric():
    """Training's ``nme`` is the evaluator's: per image in image pixels, then over images."""
    torch = pytest.importorskip("torch")
    from fastkp.heads import KeypointHead
    from fastkp.pipeline import codec, resize_matrix

    rng = np.random.default_rng(0)
    h, w = 60, 80
    target = rng.uniform(12, (w - 12, h - 12), (2, 5, 2)).astype(np.float32)  # pred stays in the frame
    pred = target + rng.normal(0, 3, target.shape)
    visible = np.array([[True, True, False, True, True], [True] * 5])
    matrix = resize_matrix(np.array([[h, w], [h, w]]), (30, 40))
    head = KeypointHead(n_keypoints=5)
    batch = {"keypoints": torch.from_numpy(codec.encode(target, matrix, (30, 40))[0]),
             "visible": torch.from_numpy(visible), "matrix": torch.from_numpy(matrix).float(),
             "points_px": torch.from_numpy(np.where(visible[..., None], target, np.nan)),
             "visibility": torch.from_numpy(visible * 2).to(torch.int8), "image_id": torch.arange(2)}
    out = torch.from_numpy(codec.encode(pred, matrix, (30, 40))[0])
    stats = head.batch_stats(out, batch, (30, 40))
    got = head.metrics({k: float(v) if v.dim() == 0 else v.numpy() for k, v in stats.items()})["nme"]
    np.testing.assert_allclose(got, km.nme(pred, target, visible).mean(), rtol=1e-5)


def test_nme_interocular_by_hand():
    target = np.zeros((1, 68, 2))
    target[0, :, 0] = np.arange(68)
    target[0, 36], target[0, 45] = (10, 0), (30, 0)
    pred = target + (2, 0)
    np.testing.assert_allclose(km.nme(pred, target, np.ones((1, 68), bool), "interocular"), [0.1])
    with pytest.raises(ValueError, match="68-point"):
        km.nme(pred[:, :5], target[:, :5], np.ones((1, 5), bool), "interocular")


def test_nme_bbox_and_missing_normalisers():
    target = np.zeros((3, 2, 2))
    pred = target + (3, 0)
    boxes = np.array([[0, 0, 4, 9], [1, 1, 1, 5], [0, 0, 4, 9]], np.float64)  # sqrt(36) = 6; an empty box
    visible = np.array([[True, True], [True, True], [False, False]])
    got = km.nme(pred, target, visible, "bbox", boxes)
    assert got[0] == 0.5 and np.isnan(got[1]) and np.isnan(got[2])
    assert km.nme(pred, target, visible, "bbox_max", boxes)[0] == 3 / 9
    with pytest.raises(ValueError, match="needs boxes"):
        km.nme(pred, target, visible, "bbox")
    with pytest.raises(ValueError, match="norm must be one of"):
        km.nme(pred, target, visible, "eyes")


def test_unscored_points_do_not_count():
    target = _one([(0, 0), (10, 0), (np.nan, np.nan)])
    pred = _one([(1, 0), (10, 0), (np.nan, np.nan)])
    got = km.nme(pred, target, np.array([[True, True, True]]))  # NaN targets are never scored
    np.testing.assert_allclose(got, [0.5 / 10])


def test_auc_failure_rate_and_ced_by_hand():
    errors = np.array([0.0, 0.04, 0.08, 0.2])
    assert km.auc(errors, 0.08) == pytest.approx((1 + 0.5 + 0 + 0) / 4)
    assert km.failure_rate(errors, 0.08) == 0.25  # 0.08 itself is not a failure
    assert km.failure_rate(errors, 0.1) == 0.25 and km.auc(errors, 0.1) == pytest.approx((1 + 0.6 + 0.2) / 4)
    x, y = km.ced(errors, 0.1, 11)
    np.testing.assert_allclose(x, np.linspace(0, 0.1, 11))
    np.testing.assert_allclose(y, [0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75])


def test_auc_is_the_area_under_the_ced():
    errors = np.random.default_rng(1).gamma(2.0, 0.02, 500)
    x, y = km.ced(errors, 0.08, 200_001)
    area = float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x))) / 0.08
    assert km.auc(errors, 0.08) == pytest.approx(area, abs=1e-4)


@pytest.mark.parametrize("bad", [[np.nan], [-0.1], []])
def test_errors_must_be_finite(bad):
    with pytest.raises(ValueError):
        km.auc(np.array(bad), 0.08)


def test_pck_by_hand():
    target = np.zeros((2, 3, 2))
    pred = target.copy()
    pred[0, :, 0] = [0.5, 0.99, 1.0]  # box max side 10: hits below 1.0
    pred[1, :, 1] = [5, 0, 0]
    boxes = np.array([[0, 0, 10, 4], [0, 0, 2, 20]], np.float64)
    visible = np.array([[True, True, True], [True, False, True]])
    assert km.pck(pred, target, visible, "bbox_max", 0.1, boxes) == pytest.approx(3 / 5)
    assert np.isnan(km.pck(pred, target, np.zeros((2, 3), bool), "bbox_max", 0.1, boxes))  # no point to score


def test_metric_names():
    assert km.metric_names(68, True, False) == ["nme", "nme_interocular", "nme_bbox", "auc_0.08", "fr_0.08",
                                                "auc_0.1", "fr_0.1", "pck_0.1"]
    assert km.metric_names(17, True, True)[-1] == "oks_ap" and "nme_interocular" not in km.metric_names(17, True, True)
    assert km.metric_names(5, False, False) == ["nme", "auc_0.08", "fr_0.08", "auc_0.1", "fr_0.1", "pck_0.1"]


def test_keypoint_report_has_every_named_metric():
    rng = np.random.default_rng(2)
    target = rng.uniform(20, 100, (6, 68, 2))
    pred = target + rng.normal(0, 1, target.shape)
    vis = np.full((6, 68), 2)
    boxes = np.concatenate([target.min(1), target.max(1)], axis=1)
    report = km.keypoint_report(pred, target, vis, boxes)
    assert list(report) == km.metric_names(68, True, False)
    assert all(np.isfinite(v) for v in report.values()) and report["fr_0.1"] <= report["fr_0.08"]
    coco = km.keypoint_report(pred[:, :17], target[:, :17], vis[:, :17], boxes, coco=True)
    assert 0 < coco["oks_ap"] <= 1


# ---- OKS-AP against pycocotools ----------------------------------------------------------------


def cocoeval_ap(pred, target, vis, boxes, areas, scores, image_ids, sigmas=km.COCO_SIGMAS) -> float:
    n, k = vis.shape
    gt = {"images": [{"id": int(i)} for i in np.unique(image_ids)],
          "categories": [{"id": 1, "name": "person"}], "annotations": []}
    results = []
    for r in range(n):
        x0, y0, x1, y1 = boxes[r].tolist()
        gt["annotations"].append({
            "id": r + 1, "image_id": int(image_ids[r]), "category_id": 1, "iscrowd": 0,
            "keypoints": np.stack([target[r, :, 0], target[r, :, 1], vis[r]], 1).ravel().tolist(),
            "num_keypoints": int((vis[r] > 0).sum()), "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float(areas[r]),
        })  # fmt: skip
        results.append({"image_id": int(image_ids[r]), "category_id": 1, "score": float(scores[r]),
                        "keypoints": np.stack([pred[r, :, 0], pred[r, :, 1], np.ones(k)], 1).ravel().tolist()})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = gt
        truth.createIndex()
        ev = COCOeval(truth, truth.loadRes(results), "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def _people(rng, n: int, k: int = 17, noise: float = 5.0, shuffle: bool = False):
    image_ids = rng.integers(1, max(2, n // 3) + 1, n)
    target = rng.uniform(0, 300, (n, k, 2))
    vis = rng.choice([0, 1, 2], (n, k), p=[0.2, 0.2, 0.6])
    vis[rng.random(n) < 0.1] = 0  # people without a labelled point: ignored
    pred = target + rng.normal(0, noise, (n, k, 2)) * rng.uniform(0.2, 2, (n, 1, 1))
    if shuffle:  # predictions that fit another person of the image better
        pred = pred[rng.permutation(n)]
    boxes = np.concatenate([target.min(1) - 5, target.max(1) + 5], axis=1)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * rng.uniform(0.05, 0.5, n)
    return pred, target, vis, boxes, areas, image_ids


@pytest.mark.parametrize("seed", range(6))
def test_oks_ap_matches_pycocotools(seed):
    rng = np.random.default_rng(seed)
    pred, target, vis, boxes, areas, image_ids = _people(rng, int(rng.integers(5, 40)), shuffle=seed % 3 == 2)
    scores = np.ones(len(pred)) if seed % 2 else rng.uniform(0, 1, len(pred))
    got = km.oks_ap(pred, target, vis, boxes, areas, scores=scores, image_ids=image_ids)
    want = cocoeval_ap(pred, target, vis, boxes, areas, scores, image_ids)
    assert 0 < want < 1 and got == pytest.approx(want, abs=1e-6)


def test_oks_ap_other_sigmas_and_default_area():
    rng = np.random.default_rng(7)
    pred, target, vis, boxes, _, image_ids = _people(rng, 20, k=5, noise=3)
    sigmas = np.array([0.3, 0.5, 0.5, 0.8, 1.0]) / 10
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    got = km.oks_ap(pred, target, vis, boxes, sigmas=sigmas, image_ids=image_ids)
    assert got == pytest.approx(cocoeval_ap(pred, target, vis, boxes, areas, np.ones(20), image_ids, sigmas), abs=1e-6)


def test_oks_ap_edge_cases():
    rng = np.random.default_rng(3)
    pred, target, vis, boxes, areas, _ = _people(rng, 8)
    vis[0] = 2
    assert km.oks_ap(target, target, vis, boxes, areas) == pytest.approx(1.0)
    assert np.isnan(km.oks_ap(pred, target, np.zeros_like(vis), boxes, areas))
    with pytest.raises(ValueError, match="sigmas"):
        km.oks_ap(pred[:, :5], target[:, :5], vis[:, :5], boxes, areas)
