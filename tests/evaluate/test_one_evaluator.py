"""One evaluator: the same checkpoint scored on the same split gives the same numbers in
the training run's table (Learner.validate) and in python -m fastkp.evaluate, COCO's
oks_ap included (people matched per image, the data set's visibility flags)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastkp.data.synth.coco import make_coco
from fastkp.data.synth.w300 import make_300w
from fastkp.evaluate import cli
from fastkp.learner import Learner
from fastkp.metrics.evaluator import KeypointEvaluator

TINY = dict(size=32, bs=4, threads=1, arch="resnet18", progress=False, aug="none")
SETS = {"300w": lambda root: make_300w(root, 16, size=(64, 64)), "coco": lambda root: make_coco(root, 16, size=(64, 64))}


@pytest.mark.parametrize("fmt", SETS)
def test_validate_and_evaluate_give_the_same_numbers(fmt, tmp_path):
    root = SETS[fmt](tmp_path / fmt)
    learn = Learner.from_folder("keypoints", root, format=fmt, out=tmp_path / "run", **TINY)
    learn.fit(1)
    trained = learn.validate()
    ckpt = learn.save("m")
    assert cli([str(ckpt), "--data", str(root), "--format", fmt, "--split", "valid",
                "--out", str(tmp_path / "eval"), "--worst", "0"]) == 0
    scored = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert scored["split"] == "valid" and scored["n_images"] == len(learn.valid_samples)
    shared = [m for m in scored["metrics"] if m in trained]
    assert {"nme", "nme_bbox", "pck_0.1"} <= set(shared) and (fmt != "coco" or "oks_ap" in shared)
    for name in shared:  # the network sees the images through DALI's warp in one, PIL + the export in the other
        assert scored["metrics"][name] == pytest.approx(trained[name], rel=1e-3, abs=1e-4), name


def test_the_head_and_the_cli_call_the_same_evaluator():
    """Given the same predictions, the head's validation metrics are the evaluator's report."""
    from fastkp.heads import KeypointHead

    rng = np.random.default_rng(0)
    points = rng.uniform(5, 50, (6, 17, 2)).astype(np.float32)
    pred = points + rng.normal(0, 2, points.shape)
    flags = rng.integers(0, 3, (6, 17)).astype(np.int8)
    points[flags == 0] = np.nan
    boxes = np.tile(np.array([0, 0, 60, 60], np.float32), (6, 1))
    images = np.array([0, 0, 1, 1, 2, 3])  # two images hold two people each
    head = KeypointHead(n_keypoints=17, boxes=True, oks=True)
    stats = {"pred_px": pred, "points_px": points, "visibility": flags, "image_id": images, "boxes": boxes,
             **{k: 0.0 for k in ("sq_err", "sq_dist_px", "n_points", "pck_hits")}}
    from_head = head.metrics(stats)
    report = KeypointEvaluator(17, True, True).report(pred, points, flags, boxes, images)
    assert {m: from_head[m] for m in head.paper_metrics()} == {m: report[m] for m in head.paper_metrics()}
    assert "oks_ap" in head.paper_metrics()
