"""``--task keypoints --format csv|300w|coco|dlc|yolo``: each format trains, validates with the
papers' metrics, exports (with boxes where it crops them) and runs the flip test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fastkp.metrics import keypoints as kp_metrics
from fastkp.config import resolve
from fastkp.data.synth.coco import make_coco
from fastkp.data.synth.dlc import make_dlc
from fastkp.data.synth.w300 import make_300vw, make_300w
from fastkp.data.synth.yolo import make_yolo
from fastkp.errors import DatasetError, UsageError
from fastkp.export import export_checkpoint, load
from fastkp.learner import Learner

TINY = dict(size=32, bs=4, threads=1, arch="resnet18", progress=False)
MAKERS = {
    "300w": lambda root: make_300w(root, 16, size=(64, 64)),
    "coco": lambda root: make_coco(root, 16, size=(64, 64)),
    "dlc": lambda root: make_dlc(root, 16, size=(64, 64)),
    "yolo": lambda root: make_yolo(root, 16, size=(64, 64)) / "data.yaml",
}
# format -> (crops boxes by default, metrics the head adds)
EXPECTED = {
    "300w": (True, {"nme_interocular", "nme_bbox", "auc_0.08", "fr_0.1", "pck_0.1"}),
    "coco": (True, {"nme_bbox", "oks_ap", "pck_0.1"}),
    "dlc": (False, {"nme_bbox", "auc_0.08", "pck_0.1"}),
    "yolo": (True, {"nme_bbox", "pck_0.1"}),
}


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kp")
    return {fmt: make(root / fmt) for fmt, make in MAKERS.items()}


@pytest.mark.parametrize("fmt", MAKERS)
def test_each_format_trains_exports_and_predicts(sets, fmt, tmp_path):
    crops, metrics = EXPECTED[fmt]
    learn = Learner.from_folder("keypoints", sets[fmt], format=fmt, out=tmp_path / "run", **TINY)
    assert learn.config.box_crop is crops and (learn.spec.box_crop is not None) is crops
    learn.fit(1, 1e-3)
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert metrics <= set(row) and "rmse_px" in row and "nme" in row
    assert set(learn.history[0]) >= metrics and set(learn.constant_baseline()) >= metrics
    out = tmp_path / "m.pt"
    meta = export_checkpoint(tmp_path / "run" / "best.pth", out)
    assert (meta.box_crop is not None) is crops
    model = load(out)
    sample = learn.valid_samples[0]
    images = torch.zeros(1, *sample.size, 3, dtype=torch.uint8)
    boxes = torch.from_numpy(sample.box[None]) if crops else None
    answer = model.answers(images, boxes)[0]  # the default heatmap head: (x, y, score) per point
    assert answer.shape == (1, sample.keypoints.shape[0], 3) and 0 < answer[..., 2].min() <= answer[..., 2].max() <= 1


def test_300w_format_trains_on_300vw_videos_validating_on_whole_ones(tmp_path):
    root = make_300vw(tmp_path / "vw", 15, size=(64, 64), videos=5)
    learn = Learner.from_folder("keypoints", root, format="300w", out=tmp_path / "run", **TINY)
    train, valid = ({Path(s.path).parents[1].name for s in samples} for samples in (learn.train_samples,
                                                                                   learn.valid_samples))
    assert len(valid) == 1 and len(train) == 4 and len(learn.valid_samples) == 3
    learn.fit(1, 1e-3)
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert EXPECTED["300w"][1] <= set(row)


def test_flip_test_in_validation_is_the_manual_average(sets, tmp_path):
    learn = Learner.from_folder("keypoints", sets["300w"], format="300w", out=tmp_path / "run", **TINY)
    flip = torch.tensor(learn.heads[0].flip_index)
    learn.model.eval()
    for (batch, (tta,)), (_, (plain,)) in zip(learn._outputs(learn.valid_dl, "flip"), learn._outputs(learn.valid_dl)):
        with torch.no_grad():
            mirrored = learn.model(batch["images"].flip(3))[0].float()
        back = mirrored[:, flip, :3] * torch.tensor([-1.0, 1.0, 1.0])  # x, y, score (the maps mirror too)
        torch.testing.assert_close(tta[..., :3], (plain[..., :3] + back) / 2, atol=1e-5, rtol=0)
    assert learn.validate(tta="flip")["rmse_px"] != learn.validate()["rmse_px"]
    with pytest.raises(UsageError, match="tta"):
        learn.validate(tta="rotate")


def test_flip_test_inside_the_export_equals_the_one_outside(sets, tmp_path):
    learn = Learner.from_folder("keypoints", sets["300w"], format="300w", out=tmp_path / "run", **TINY)
    learn.fit(1, 1e-3)
    ckpt = tmp_path / "run" / "best.pth"
    export_checkpoint(ckpt, tmp_path / "plain.pt")
    meta = export_checkpoint(ckpt, tmp_path / "flip.pt", tta="flip")
    assert meta.tta == "flip" and load(tmp_path / "flip.pt").metadata.tta == "flip"
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (2, 70, 90, 3), dtype=np.uint8))
    boxes = torch.tensor([[10.0, 5.0, 60.0, 50.0], [-5.0, 20.0, 40.0, 80.0]])
    inside = load(tmp_path / "flip.pt").answers(images, boxes)[0]
    outside = load(tmp_path / "plain.pt").flip_answers(images, boxes)[0]
    torch.testing.assert_close(inside, outside, atol=1e-3, rtol=0)
    assert not torch.allclose(inside, load(tmp_path / "plain.pt").answers(images, boxes)[0], atol=1e-3)
    with pytest.raises(ValueError, match="already"):
        load(tmp_path / "flip.pt").flip_answers(images, boxes)


@pytest.mark.parametrize("fmt", ["onnx", pytest.param("pt2", marks=pytest.mark.slow)])
def test_box_models_export_to_every_format(sets, tmp_path, fmt):
    pytest.importorskip("onnxruntime")
    learn = Learner.from_folder("keypoints", sets["coco"], format="coco", out=tmp_path / "run", **TINY)
    learn.export(tmp_path / "ts.pt", tta="flip")
    meta = learn.export(tmp_path / f"m.{fmt}", fmt, tta="flip")
    assert meta.box_crop == {"margin": 0.25, "mode": "pad"} and meta.tta == "flip"
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (3, 50, 70, 3), dtype=np.uint8))
    boxes = torch.tensor([[5.0, 5.0, 40.0, 45.0], [20.0, 0.0, 69.0, 30.0], [-10.0, -10.0, 80.0, 60.0]])
    want = load(tmp_path / "ts.pt").answers(images, boxes)[0]
    torch.testing.assert_close(load(tmp_path / f"m.{fmt}").answers(images, boxes)[0], want, atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="box"):
        load(tmp_path / f"m.{fmt}").answers(images)


def test_flip_export_refuses_heads_without_a_permutation(sets, tmp_path):
    learn = Learner.from_folder("keypoints", sets["yolo"], format="yolo", out=tmp_path / "run", **TINY)
    learn.heads[0].flip_index = None
    with pytest.raises(UsageError, match="flip permutation"):
        learn.export(tmp_path / "x.pt", tta="flip")


def test_box_crop_and_nme_norm_settings(sets, tmp_path):
    assert resolve("keypoints", sets["dlc"], format="dlc", box_crop=True).box_crop is True
    assert resolve("landmarks", sets["300w"], format="300w").box_crop is True  # the alias reads every format
    assert resolve("keypoints", tmp_path).box_crop is False  # csv, the default format
    with pytest.raises(UsageError, match="box margin"):
        resolve("keypoints", sets["300w"], format="300w", box_margin=-1)
    res = subprocess.run([sys.executable, "-m", "fastkp.train", "--task", "keypoints", "--format", "300w", "--data",
                          str(sets["300w"]), "--nme-norm", "interocular", "--monitor", "nme"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--nme-norm" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    learn = Learner.from_folder("keypoints", sets["300w"], format="300w", monitor="nme_interocular",
                                out=tmp_path / "r", **TINY)
    assert (learn.config.monitor, learn.direction) == ("nme_interocular", "min")


def test_the_constant_predictor_lives_in_the_box_frame(sets, tmp_path):
    """With box crops the bar to clear is the mean point of the boxes' windows: much closer."""
    base = {crop: Learner.from_folder("keypoints", sets["300w"], format="300w", box_crop=crop,
                                      out=tmp_path / str(crop), **TINY).constant_baseline() for crop in (True, False)}
    assert base[True]["nme_interocular"] < 0.5 * base[False]["nme_interocular"]


def test_flip_json_overrides_the_formats_permutation(sets, tmp_path):
    flip = tmp_path / "flip.json"
    flip.write_text(json.dumps({"flip_index": list(range(68))}))  # e.g. a mark-up with no mirror pairs
    learn = Learner.from_folder("keypoints", sets["300w"], format="300w", flip_json=flip, out=tmp_path / "r", **TINY)
    assert learn.heads[0].flip_index == list(range(68))
    flip.write_text('{"flip_index": [1, 0]}')
    with pytest.raises(DatasetError, match="flip.json"):
        Learner.from_folder("keypoints", sets["300w"], format="300w", flip_json=flip, out=tmp_path / "r2", **TINY)
    flip.write_bytes(b'{"flip_index": \xff}')
    with pytest.raises(DatasetError, match="flip.json"):
        Learner.from_folder("keypoints", sets["300w"], format="300w", flip_json=flip, out=tmp_path / "r3", **TINY)


def test_training_metrics_equal_the_reference_on_the_whole_set(sets, tmp_path):
    """The head's per-image validation arrays give kp_metrics' numbers on the sample targets."""
    learn = Learner.from_folder("keypoints", sets["300w"], format="300w", out=tmp_path / "run", aug="none", **TINY)
    metrics = learn.validate()
    records = learn.predict([s.path for s in learn.valid_samples], boxes=[s.box.tolist() for s in learn.valid_samples])
    np.testing.assert_allclose([r["box"] for r in records], [s.box for s in learn.valid_samples], rtol=1e-6)
    pred = np.stack([np.array(r["keypoints"], np.float64) for r in records])
    target = np.stack([s.keypoints for s in learn.valid_samples])
    boxes = np.stack([s.box for s in learn.valid_samples])
    errors = kp_metrics.nme(pred, target, np.isfinite(target).all(-1), "interocular", boxes)
    assert metrics["nme_interocular"] == pytest.approx(errors.mean(), rel=1e-3)
