"""python -m fastkp.evaluate: a checkpoint and its export score the same, the files it
writes, its numbers against kp_metrics recomputed here, and its refusals."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from fastkp.metrics import keypoints as kp_metrics
from fastkp.checkpoint import ModelSpec, save_checkpoint
from fastkp.data import load_300w
from fastkp.data.synth import make_landmarks
from fastkp.data.synth.w300 import make_300w
from fastkp.data.w300 import FLIP_68, NAMES_68
from fastkp.evaluate import cli
from fastkp.export import CheckpointModel, export_checkpoint
from fastkp.heads import KeypointHead
from fastkp.model import FastkpModel
from fastkp.pipeline.decode import decode_rgb
from support.models import make_checkpoint, make_heads_checkpoint

N_IMAGES = 6
FILES = ("metrics.json", "per_image.csv", "ced.png", "worst.png")


def face_head() -> KeypointHead:
    return KeypointHead(n_keypoints=68, names=list(NAMES_68), flip_index=list(FLIP_68), boxes=True)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """A tiny 300W set, a random 68-point checkpoint and its TorchScript export."""
    d = tmp_path_factory.mktemp("evaluate")
    make_300w(d / "data", N_IMAGES, size=(48, 40))
    ckpt = make_heads_checkpoint(d / "faces.pth", [face_head()], "keypoints", (32, 32))
    export_checkpoint(ckpt, d / "faces.pt")
    return {"data": d / "data", "ckpt": ckpt, "pt": d / "faces.pt"}


def evaluate(model, data, out, *extra) -> dict:
    """Both splits scored (the default is valid only)."""
    assert cli([str(model), "--data", str(data), "--format", "300w", "--split", "all", "--out", str(out), *extra]) == 0
    return json.loads((out / "metrics.json").read_text())


def assert_same_metrics(a: dict, b: dict) -> None:
    assert a["metrics"].keys() == b["metrics"].keys()
    for name, value in a["metrics"].items():
        assert value == pytest.approx(b["metrics"][name], abs=1e-4), name


def test_checkpoint_and_export_agree(faces, tmp_path, capsys):
    from_ckpt = evaluate(faces["ckpt"], faces["data"], tmp_path / "ckpt", "--worst", "4")
    from_pt = evaluate(faces["pt"], faces["data"], tmp_path / "pt")
    assert_same_metrics(from_ckpt, from_pt)
    assert list(from_ckpt["metrics"]) == ["rmse_px_image", *kp_metrics.metric_names(68, True, False)]
    assert from_ckpt["n_images"] == N_IMAGES and from_ckpt["n_points"] == 68 * N_IMAGES
    assert from_ckpt["norm"] == "interocular" and from_ckpt["tta"] is None
    for out in ("ckpt", "pt"):
        assert all((tmp_path / out / f).stat().st_size > 0 for f in FILES)
    printed = capsys.readouterr().out
    assert "nme_interocular" in printed and f"wrote {tmp_path / 'pt' / 'worst.png'}" in printed

    # the numbers, recomputed from the model's answers on every sample of both splits
    d = load_300w(faces["data"])
    samples = d.train + d.valid
    model = CheckpointModel(faces["ckpt"])
    pred = np.stack([model.answers(torch.from_numpy(decode_rgb(s.path))[None])[0][0].numpy() for s in samples])
    target = np.stack([s.keypoints for s in samples])
    visible = np.ones(target.shape[:2], bool)
    boxes = np.stack([s.box for s in samples])
    assert from_ckpt["metrics"]["nme"] == pytest.approx(kp_metrics.nme(pred, target, visible).mean(), abs=1e-6)
    assert from_ckpt["metrics"]["nme_bbox"] == pytest.approx(
        kp_metrics.nme(pred, target, visible, "bbox", boxes).mean(), abs=1e-6)

    with open(tmp_path / "ckpt" / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "nme", *(f"{n}_px" for n in NAMES_68)]
    assert [r["file"] for r in rows] == [s.path for s in samples]
    np.testing.assert_allclose([float(r["nme"]) for r in rows],
                               kp_metrics.nme(pred, target, visible, "interocular"), rtol=1e-4)
    np.testing.assert_allclose([float(rows[i]["chin_px"]) for i in range(N_IMAGES)],
                               np.linalg.norm(pred[:, 8] - target[:, 8], axis=1), rtol=1e-4, atol=1e-4)
    dist = np.linalg.norm(pred - target, axis=2)
    assert from_ckpt["metrics"]["rmse_px_image"] == pytest.approx(np.sqrt(np.mean(dist**2)), rel=1e-5)
    chin = next(p for p in from_ckpt["per_point"] if p["name"] == "chin")
    assert chin["n"] == N_IMAGES and chin["error_px"] == pytest.approx(dist[:, 8].mean(), rel=1e-5)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])  # pck_0.1's normaliser with boxes
    assert chin["pck_0.1"] == pytest.approx(np.mean(dist[:, 8] < 0.1 * side))
    with open(tmp_path / "ckpt" / "per_point.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["name"] for r in table] == list(NAMES_68) and list(table[0]) == ["name", "n", "error_px", "pck_0.1"]
    assert "chin" in printed and "error_px" in printed  # the per-point table in the summary


def test_the_default_split_is_valid(faces, tmp_path, capsys):
    """The numbers a user compares with the training run's table; the summary says so."""
    assert cli([str(faces["pt"]), "--data", str(faces["data"]), "--format", "300w", "--out", str(tmp_path / "v"),
                "--worst", "0"]) == 0
    result = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert result["split"] == "valid" and result["n_images"] == len(load_300w(faces["data"]).valid) < N_IMAGES
    assert "split valid" in capsys.readouterr().out


def test_tta_flip_checkpoint_and_export_agree(faces, tmp_path):
    from_ckpt = evaluate(faces["ckpt"], faces["data"], tmp_path / "ckpt", "--tta", "flip", "--worst", "0")
    from_pt = evaluate(faces["pt"], faces["data"], tmp_path / "pt", "--tta", "flip", "--worst", "0")
    assert_same_metrics(from_ckpt, from_pt)
    assert from_ckpt["tta"] == from_pt["tta"] == "flip"
    assert not (tmp_path / "pt" / "worst.png").exists()
    plain = evaluate(faces["pt"], faces["data"], tmp_path / "plain", "--worst", "0")
    assert plain["metrics"]["nme"] != pytest.approx(from_pt["metrics"]["nme"], abs=1e-6)


def test_box_crop_model(faces, tmp_path):
    torch.manual_seed(0)
    heads = [face_head()]
    spec = ModelSpec(task="keypoints", arch="resnet18", size=(32, 32), heads=heads,
                     box_crop={"margin": 0.25, "mode": "pad"})
    save_checkpoint(tmp_path / "box.pth", spec, model=FastkpModel("resnet18", heads).eval().state_dict())
    result = evaluate(tmp_path / "box.pth", faces["data"], tmp_path / "out", "--worst", "0")
    assert result["n_images"] == N_IMAGES and np.isfinite(result["metrics"]["nme"])


def test_bad_image(faces, tmp_path, capsys):
    """A truncated image: reported and left out (exit 1) with skip, stops the run (exit 2) with raise."""
    data = shutil.copytree(faces["data"], tmp_path / "data")
    bad = next(data.rglob("*.jpg"))
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    args = [str(faces["pt"]), "--data", str(data), "--format", "300w", "--split", "all", "--out", str(tmp_path / "out"),
            "--worst", "0"]
    capsys.readouterr()
    assert cli(args + ["--on-error", "skip"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err
    result = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (result["n_images"], result["n_failed"]) == (N_IMAGES - 1, 1)
    assert cli(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """A model without keypoint heads, and a box-crop model beside data without boxes."""
    d = tmp_path_factory.mktemp("refused")
    make_landmarks(d / "landmarks", 3, k=3, size=(32, 32))
    heads = [KeypointHead(n_keypoints=3)]
    spec = ModelSpec(task="keypoints", arch="resnet18", size=(32, 32), heads=heads,
                     box_crop={"margin": 0.25, "mode": "pad"})
    save_checkpoint(d / "box.pth", spec, model=FastkpModel("resnet18", heads).eval().state_dict())
    return {"labels": make_checkpoint(d / "labels.pth", False, size=(32, 32)), "box": d / "box.pth",
            "landmarks": d / "landmarks"}


@pytest.mark.parametrize("model, data, extra, says", [
    ("box", "missing", [], "no such file or folder"),
    ("labels", "landmarks", [], "no keypoint head"),
    ("box", "landmarks", ["--format", "csv"], "has no box"),
    ("box", "landmarks", ["--tta", "flip"], "--tta flip: "),
], ids=["missing data", "no keypoint head", "box model without boxes", "flip without permutation"])
def test_refused(refused, tmp_path, capsys, model, data, extra, says):
    args = [str(refused[model]), "--data", str(refused.get(data, tmp_path / data)), "--out", str(tmp_path / "out")]
    assert cli(args + extra) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and err.startswith("fastkp.evaluate: error: ")
    assert not (tmp_path / "out").exists()
