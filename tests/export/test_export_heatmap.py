"""The heatmap keypoint head deployed: every export format answers as the eager model does
(points within 1e-3 px, the same scores), Python and C++ print the same ``score`` field,
and ``--min-score`` blanks the same points in both."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastkp.checkpoint import ModelSpec, save_checkpoint
from fastkp.export import deploy_module, export_checkpoint, load, read_metadata
from fastkp.heads import KeypointHead
from fastkp.model import FastkpModel
from fastkp.predict import cli as predict_cli
from support.images import random_pixels, write_ppm
from support.infer import json_lines, run_infer

pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")
SIZE = (64, 64)
NAMES = ["nose", "left_ear", "right_ear"]


def heatmap_checkpoint(path, box_crop=None):
    """A ResNet-18 with a heatmap head of 3 points, random weights with spread-out BatchNorm
    statistics, so that points and scores depend clearly on the pixels."""
    torch.manual_seed(0)
    head = KeypointHead(n_keypoints=3, names=NAMES, flip_index=[0, 2, 1], head_type="heatmap")
    model = FastkpModel("resnet18", [head], SIZE)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_(0.0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        model.heads[0].final.weight.mul_(300.0)  # peaked maps: scores spread over (0, 1)
    spec = ModelSpec(task="keypoints", arch="resnet18", size=SIZE, heads=[head], box_crop=box_crop)
    save_checkpoint(path, spec, model=model.eval().state_dict())
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return heatmap_checkpoint(tmp_path_factory.mktemp("heatmap") / "hm.pth")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    return [write_ppm(d / f"{h}x{w}.ppm", random_pixels(h, w, seed=h)) for h, w in ((48, 80), (90, 60))]


def pixels(n=2):
    return torch.from_numpy(np.stack([random_pixels(57, 71, seed=i) for i in range(n)]))


@pytest.mark.parametrize("fmt, suffix", [("torchscript", ".pt"), ("pt2", ".pt2"), ("onnx", ".onnx")])
def test_every_format_matches_eager(checkpoint, tmp_path, fmt, suffix):
    eager, meta, _ = deploy_module(checkpoint)
    assert meta.heads[0]["head_type"] == "heatmap" and meta.heads[0]["scores"] is True
    x = pixels()
    with torch.no_grad():
        want = eager(x)
    assert want.shape == (2, 3, 3) and 0 < want[..., 2].min() and want[..., 2].max() <= 1
    assert want[..., 2].max() - want[..., 2].min() > 0.05  # scores that differ, so the check means something
    path = tmp_path / f"m{suffix}"
    export_checkpoint(checkpoint, path, fmt)
    assert read_metadata(path).heads == meta.heads
    got = load(path)(x)
    torch.testing.assert_close(got[..., :2], want[..., :2], atol=1e-3, rtol=0)
    torch.testing.assert_close(got[..., 2], want[..., 2], atol=1e-4, rtol=0)


def test_flip_test_inside_the_export(checkpoint, tmp_path):
    eager, _, _ = deploy_module(checkpoint)
    export_checkpoint(checkpoint, tmp_path / "flip.pt", tta="flip")
    x = pixels(1)
    with torch.no_grad():
        plain, mirrored = eager(x), eager(x.flip(2))
    mirrored[..., 0] = x.shape[2] - mirrored[..., 0]
    want = (plain + mirrored[:, [0, 2, 1]]) / 2
    torch.testing.assert_close(load(tmp_path / "flip.pt")(x), want, atol=1e-3, rtol=0)


def test_box_model_answers_in_image_pixels(tmp_path):
    ckpt = heatmap_checkpoint(tmp_path / "box.pth", box_crop={"margin": 0.25, "mode": "pad"})
    eager, _, _ = deploy_module(ckpt)
    export_checkpoint(ckpt, tmp_path / "box.pt")
    x, boxes = pixels(), torch.tensor([[5.0, 4.0, 40.0, 50.0], [10.0, 10.0, 60.0, 30.0]])
    with torch.no_grad():
        want = eager(x, boxes)
    torch.testing.assert_close(load(tmp_path / "box.pt")(x, boxes), want, atol=1e-3, rtol=0)


def test_python_and_cpp_print_the_same_scores(checkpoint, images, tmp_path, capsys):
    export_checkpoint(checkpoint, tmp_path / "m.pt")
    assert predict_cli([str(tmp_path / "m.pt"), *map(str, images)]) == 0
    py = json_lines(capsys.readouterr().out)
    cpp = json_lines(run_infer(tmp_path / "m.pt", *images).stdout)
    assert [list(r) for r in py] == [list(r) for r in cpp] == [["image", "height", "width", "keypoints", "score",
                                                               "names"]] * len(images)
    for p, c in zip(py, cpp):
        np.testing.assert_allclose(p["keypoints"], c["keypoints"], atol=1e-3)
        np.testing.assert_allclose(p["score"], c["score"], atol=1e-5)
    # --min-score between the scores: the same points blanked (null) in both programs
    scores = sorted(s for r in py for s in r["score"])
    cut = (scores[2] + scores[3]) / 2
    assert predict_cli([str(tmp_path / "m.pt"), *map(str, images), "--min-score", str(cut)]) == 0
    py_cut = json_lines(capsys.readouterr().out)
    cpp_cut = json_lines(run_infer(tmp_path / "m.pt", *images, "--min-score", str(cut)).stdout)
    blank = [[s < cut for s in r["score"]] for r in py]
    assert sum(map(sum, blank)) == 3
    for rows in (py_cut, cpp_cut):
        assert [[p == [None, None] for p in r["keypoints"]] for r in rows] == blank
        assert [r["score"] for r in rows] == [r["score"] for r in py]


def test_min_score_needs_scores(tmp_path, images, capsys):
    from support.models import make_checkpoint
    export_checkpoint(make_checkpoint(tmp_path / "reg.pth", True, size=(48, 48)), tmp_path / "reg.pt")
    assert predict_cli([str(tmp_path / "reg.pt"), str(images[0]), "--min-score", "0.5"]) == 2
    assert "no scores" in capsys.readouterr().err
    assert predict_cli([str(tmp_path / "reg.pt"), str(images[0]), "--min-score", "1.5"]) == 2
    proc = run_infer(tmp_path / "reg.pt", images[0], "--min-score", "0.5", check=False)
    assert proc.returncode == 2 and "no scores" in proc.stderr
