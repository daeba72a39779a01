"""COCO as it ships, scored as pycocotools scores it: OKS with each annotation's segment
area, predictions written as COCO results (``--coco-results``) that ``COCO.loadRes``
reads and ``COCOeval`` scores as fastkp's ``oks_ap``, and a val-only folder evaluated once.

fastkp's ``oks_ap`` has no crowd regions (COCOeval may match a prediction that misses its
person to a crowd and then ignores it), so these tests drop the generator's crowd
annotations from the ground truth."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fastkp.checkpoint import ModelSpec, save_checkpoint
from fastkp.coco_results import coco_results, write_coco_results
from fastkp.data.coco import load_coco
from fastkp.data.synth.coco import COCO_NAMES, make_coco
from fastkp.evaluate import cli
from fastkp.heads import KeypointHead
from fastkp.metrics.evaluator import KeypointEvaluator
from fastkp.model import FastkpModel
from fastkp.pipeline import codec
from fastkp.pipeline.boxes import BoxCrop

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

SIZE = (32, 32)  # the models' input
BOX_CROP = {"margin": 0.25, "mode": "pad"}


def coco_set(root: Path, n: int, size: tuple[int, int], val_only: bool = False) -> Path:
    """A generated COCO folder without crowd annotations (and without its train file)."""
    make_coco(root, n, size=size, seed=0)
    for path in (root / "annotations").glob("*.json"):
        spec = json.loads(path.read_text())
        spec["annotations"] = [a for a in spec["annotations"] if not a["iscrowd"]]
        path.write_text(json.dumps(spec))
    if val_only:
        (root / "annotations" / "person_keypoints_train2017.json").unlink()
    return root


def cocoeval_ap(truth: Path, results) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(truth))
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def test_oks_ap_with_coco_areas_is_pycocotools(tmp_path):
    """Several people per image, areas of 0.2-0.45 of their boxes: fastkp's oks_ap (the
    evaluator, and the keypoint head's validation metrics) is COCOeval's on the same file."""
    root = coco_set(tmp_path / "coco", 30, (64, 80))
    d = load_coco(root)
    points, flags, images = codec.labels(d.valid)
    boxes = np.stack([s.box for s in d.valid]).astype(np.float64)
    areas = codec.areas(d.valid)
    assert len(np.unique(images)) < len(images) and (areas < 0.5 * np.prod(boxes[:, 2:] - boxes[:, :2], 1)).all()
    evaluator = KeypointEvaluator.for_data(d.meta, 17, boxes=True)
    head = KeypointHead(n_keypoints=17, boxes=True, oks=True)
    rng = np.random.default_rng(0)
    for noise in (0.5, 1.0, 2.0):
        pred = np.where(np.isfinite(points), points, 30.0) + rng.normal(0, noise, points.shape)
        want = cocoeval_ap(root / "annotations" / "person_keypoints_val2017.json", coco_results(d.valid, pred))
        got = evaluator.report(pred, points, flags, boxes, images, areas)["oks_ap"]
        stats = {"pred_px": pred, "points_px": points, "visibility": flags, "image_id": images, "boxes": boxes,
                 "area": areas, **dict.fromkeys(("sq_err", "sq_dist_px", "n_points", "pck_hits"), 0.0)}
        assert 0 < want < 1 and got == pytest.approx(want, abs=1e-6) and head.metrics(stats)["oks_ap"] == got
        assert evaluator.report(pred, points, flags, boxes, images)["oks_ap"] > want + 0.05  # the box's w * h


def test_results_refuse_samples_without_one_annotation_file(tmp_path):
    d = load_coco(coco_set(tmp_path / "coco", 6, (48, 48)))
    pred = np.zeros((len(d.train) + len(d.valid), 17, 2))
    with pytest.raises(ValueError, match="answer one COCO annotation file; the samples come from 2 "):
        coco_results(d.train + d.valid, pred)
    assert write_coco_results(tmp_path / "r.json", d.valid, pred[: len(d.valid)]) == tmp_path / "r.json"
    d.valid[0].source = None
    with pytest.raises(ValueError, match="need samples read from COCO annotation files"):
        coco_results(d.valid, pred[: len(d.valid)])


def mean_pose_checkpoint(path: Path, samples) -> Path:
    """A box-crop model that answers every box with the samples' mean pose in its window:
    its head's last norm layer gives a constant feature, which the last layer turns into that pose."""
    windows = BoxCrop(**BOX_CROP).windows(np.stack([s.box for s in samples]), SIZE)[:, None]
    share = np.nanmean((np.stack([s.keypoints for s in samples]) - windows[..., :2]) / windows[..., 2:], axis=0)
    heads = [KeypointHead(n_keypoints=17, names=list(COCO_NAMES), boxes=True, oks=True)]
    torch.manual_seed(0)
    model = FastkpModel("resnet18", heads, SIZE)
    norm = [m for m in model.heads[0].modules() if isinstance(m, torch.nn.BatchNorm1d)][-1]
    last = [m for m in model.heads[0].modules() if isinstance(m, torch.nn.Linear)][-1]
    for p in (norm.weight, norm.bias, last.weight):
        p.data.zero_()
    norm.bias.data[0] = 1.0
    last.weight.data[:, 0] = torch.logit(torch.from_numpy(share.ravel()).float().clamp(0.01, 0.99))
    spec = ModelSpec(task="keypoints", arch="resnet18", size=SIZE, heads=heads, box_crop=BOX_CROP)
    save_checkpoint(path, spec, model=model.eval().state_dict())
    return path


def test_evaluate_a_val_only_folder_and_write_coco_results(tmp_path, capsys):
    """COCO's val set alone is scored once (--split all), and its COCO results score in
    pycocotools as fastkp scored them."""
    root = coco_set(tmp_path / "coco", 16, (64, 64), val_only=True)
    valid = load_coco(root).valid
    ckpt = mean_pose_checkpoint(tmp_path / "m.pth", valid)
    results = tmp_path / "results.json"
    assert cli([str(ckpt), "--data", str(root), "--format", "coco", "--split", "all", "--out", str(tmp_path / "eval"),
                "--worst", "0", "--coco-results", str(results)]) == 0
    scored = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    entries = json.loads(results.read_text())
    assert scored["n_images"] == len(valid) == len(entries) and f"wrote {results}" in capsys.readouterr().out
    assert [(e["image_id"], e["category_id"], e["score"]) for e in entries] == [
        (s.source["image_id"], 1, 1.0) for s in valid]
    want = cocoeval_ap(root / "annotations" / "person_keypoints_val2017.json", str(results))
    assert 0 < want < 1 and scored["metrics"]["oks_ap"] == pytest.approx(want, abs=1e-6)

    assert cli([str(ckpt), "--data", str(root), "--format", "300w", "--coco-results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastkp.evaluate: error: --coco-results: the data is read as '300w'")
