"""fastkp.json version 2 end to end: several heads on one body exported, run from Python and
C++ with the same fields; version-1 model files and checkpoints still load."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from fastkp.checkpoint import load_checkpoint, load_model
from fastkp.export import MultiHeadDeployModule, deploy_module, export_checkpoint, load, read_metadata
from fastkp.heads import KeypointHead, MultiLabelHead
from fastkp.predict import cli as predict_cli
from support.images import random_pixels, write_ppm
from support.infer import json_lines, run_infer
from support.model_files import rewrite_metadata
from support.models import VOCAB, make_checkpoint, make_heads_checkpoint

pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory):
    """(checkpoint, TorchScript file) of points + labels on one body, and of two point heads."""
    d = tmp_path_factory.mktemp("heads")
    out = {}
    for name, heads in (("mixed", [KeypointHead("points", n_keypoints=2), MultiLabelHead(vocab=VOCAB, threshold=0.45)]),
                        ("sides", [KeypointHead("left", n_keypoints=1), KeypointHead("right", n_keypoints=1)])):
        ckpt = make_heads_checkpoint(d / f"{name}.pth", heads, "custom", size=(48, 48))
        export_checkpoint(ckpt, d / f"{name}.pt")
        out[name] = ckpt, d / f"{name}.pt"
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    return [write_ppm(d / f"{h}x{w}.ppm", random_pixels(h, w, seed=h)) for h, w in ((31, 45), (60, 40))]


def test_forward_returns_one_answer_per_head(two_heads):
    ckpt, path = two_heads["mixed"]
    eager, meta, _ = deploy_module(ckpt)
    assert isinstance(eager, MultiHeadDeployModule)
    assert [h["name"] for h in meta.heads] == ["points", "labels"] and read_metadata(path).heads == meta.heads
    images = torch.from_numpy(np.stack([random_pixels(37, 81, seed=i) for i in range(3)]))
    with torch.no_grad():
        want = eager(images)
    got = load(path)(images)
    assert isinstance(got, tuple) and [tuple(t.shape) for t in got] == [(3, 2, 2), (3, len(VOCAB))]
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-3, rtol=0)
    assert 0 <= got[1].min() and got[1].max() <= 1  # probabilities


def run_predict(capsys, *args) -> list[dict]:
    assert predict_cli([str(a) for a in args]) == 0
    return json_lines(capsys.readouterr().out)


@pytest.mark.parametrize("name, keys", [("mixed", ["keypoints", "labels", "probabilities"]),
                                        ("sides", ["left_keypoints", "right_keypoints"])])
def test_python_and_cpp_print_the_same_fields(two_heads, images, capsys, name, keys):
    _, path = two_heads[name]
    py = run_predict(capsys, path, *images)
    cpp = json_lines(run_infer(path, *images).stdout)
    assert [list(r) for r in py] == [list(r) for r in cpp] == [["image", "height", "width", *keys]] * len(images)
    for p, c in zip(py, cpp):
        for key in keys:
            if key.endswith("keypoints"):
                np.testing.assert_allclose(p[key], c[key], atol=1e-3)
            elif key == "probabilities":
                np.testing.assert_allclose(list(p[key].values()), list(c[key].values()), atol=1e-5)
            else:
                assert p[key] == c[key]


def v1_record(meta_v2: dict) -> dict:
    """The version-1 fastkp.json of a one-head model (what fastkp 0.1 wrote)."""
    (head,) = meta_v2.pop("heads")
    points = head["kind"] == "keypoints"
    return {**meta_v2, "version": 1, "output": "keypoints" if points else "probabilities",
            "n_keypoints": head.get("n_keypoints"), "y_range": head.get("y_range"), "vocab": head.get("vocab"),
            "threshold": head.get("threshold")}


@pytest.mark.parametrize("keypoints", [True, False])
def test_version_1_model_files_still_load(tmp_path, images, capsys, keypoints):
    ckpt = make_checkpoint(tmp_path / "m.pth", keypoints, size=(48, 48))
    export_checkpoint(ckpt, tmp_path / "v2.pt")
    with zipfile.ZipFile(tmp_path / "v2.pt") as z:
        meta = json.loads(z.read(next(n for n in z.namelist() if n.endswith("extra/fastkp.json"))))
    v1 = rewrite_metadata(tmp_path / "v2.pt", tmp_path / "v1.pt", json.dumps(v1_record(meta)))
    assert read_metadata(v1).heads == read_metadata(tmp_path / "v2.pt").heads
    assert run_predict(capsys, v1, *images) == run_predict(capsys, tmp_path / "v2.pt", *images)
    assert run_infer(v1, *images).stdout == run_infer(tmp_path / "v2.pt", *images).stdout


def test_version_1_checkpoints_still_load(tmp_path):
    """fastkp 0.1 checkpoints: one output described by ``config``, weights under ``head.``."""
    ckpt = make_checkpoint(tmp_path / "v2.pth", True, size=(48, 48))
    v2 = torch.load(ckpt, weights_only=True)
    v1 = {"format": "fastkp-checkpoint", "version": 1,
          "config": {"task": "landmarks", "arch": "resnet18", "size": [48, 48], "n_keypoints": 3, "vocab": None,
                     "flip_index": None, "mean": v2["spec"]["mean"], "std": v2["spec"]["std"], "y_range": [-1, 1],
                     "threshold": None, "fastkp_version": "0.1.0", "torch_version": "2.14.1"},
          "model": {k.replace("heads.0.", "head.", 1): v for k, v in v2["model"].items()}}
    torch.save(v1, tmp_path / "v1.pth")
    old, spec = load_model(tmp_path / "v1.pth")
    new, _ = load_model(ckpt)
    assert spec.heads[0].export_entry() == load_checkpoint(ckpt)["spec"].heads[0].export_entry()
    for (k, a), b in zip(old.state_dict().items(), new.state_dict().values()):
        assert torch.equal(a, b), k
    export_checkpoint(tmp_path / "v1.pth", tmp_path / "from_v1.pt")
    assert read_metadata(tmp_path / "from_v1.pt").heads[0]["n_keypoints"] == 3


@pytest.mark.slow
def test_pt2_with_two_heads(two_heads, images, tmp_path, capsys):
    ckpt, script = two_heads["mixed"]
    export_checkpoint(ckpt, tmp_path / "mixed.pt2", "pt2")
    x = torch.from_numpy(random_pixels(37, 81))[None]
    for a, b in zip(load(tmp_path / "mixed.pt2")(x), load(script)(x)):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=0)
    assert run_infer(tmp_path / "mixed.pt2", *images).stdout.count("probabilities") == len(images)
