"""Bodies from torchvision and timm: the cut, depth groups, frozen norms, pretrained weights
from the libraries' own caches (offline), and per family: train, resume, export, match eager."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fastkp import backbones, runfolder
from fastkp.checkpoint import ModelSpec, load_checkpoint, save_checkpoint
from fastkp.data.synth import make_biwi
from fastkp.export import ExportError, deploy_module, export_checkpoint, load, read_metadata
from fastkp.heads import KeypointHead
from fastkp.learner import Learner
from fastkp.model import FastkpModel
from support.weights import put_timm_weights, put_torchvision_weights

SETTINGS = {"size": 32, "bs": 8, "threads": 1, "progress": False, "seed": 2}
TV, TIMM = "mobilenet_v3_small", "timm:mobilenetv3_small_050"  # the smallest of each library


@pytest.fixture(autouse=True)
def empty_caches():
    """Weights put in the caches by a test are gone after it (later tests expect random bodies)."""
    yield
    for path in (os.environ["TORCH_HOME"], os.path.join(os.environ["HF_HOME"], "hub")):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_biwi(tmp_path_factory.mktemp("bb") / "biwi", persons=3, frames_per_person=16, size=(64, 80))


def test_the_cut_is_where_the_model_pools():
    body, n, names = backbones.create_body("resnet18", (64, 64))
    assert n == 512 and names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    for arch, channels, cut in (("convnext_tiny", 768, ["features"]), ("regnet_y_800mf", 784, ["stem", "trunk_output"]),
                                ("swin_t", 768, ["features", "norm", "permute"])):
        _, n, names = backbones.create_body(arch, (64, 64))
        assert (n, names) == (channels, cut), arch
    body, n, names = backbones.create_body(TIMM, (64, 64))
    assert isinstance(body, backbones.TimmBody) and n == 288 and names == []


@pytest.mark.parametrize("arch, says", [
    ("vit_b_16", "no pooling layer to cut at"), ("timm:vit_tiny_patch16_224", "a vision transformer"),
    ("maxvit_t", "cannot run as a body"), ("no_such_net", "unknown"),
])
def test_models_without_a_feature_map_are_refused(arch, says):
    with pytest.raises(backbones.UsageError, match=says) as err:
        backbones.create_body(arch, (64, 64))
    assert err.value.setting == "arch"


def test_depth_groups_match_fastais_resnet_split_and_cover_any_body():
    model = FastkpModel("resnet18", [KeypointHead(n_keypoints=1)], (64, 64))
    groups = model.param_groups()
    stem_to_layer2 = [p for m in list(model.body.children())[:6] for p in m.parameters()]
    assert [id(p) for p in groups[0]] == [id(p) for p in stem_to_layer2]
    for arch in (TV, TIMM):
        model = FastkpModel(arch, [KeypointHead(n_keypoints=1)], (64, 64))
        groups = model.param_groups()
        assert all(groups) and sum(len(g) for g in groups) == len(list(model.parameters()))
        assert len({id(p) for g in groups for p in g}) == len(list(model.parameters()))


def test_a_frozen_body_keeps_its_norm_layers_trainable():
    model = FastkpModel("convnext_tiny", [KeypointHead(n_keypoints=1)], (64, 64))
    model.freeze_body(True)
    norms = [m for m in model.body.modules() if isinstance(m, torch.nn.LayerNorm)]
    convs = [m for m in model.body.modules() if isinstance(m, torch.nn.Conv2d)]
    assert norms and all(p.requires_grad for m in norms for p in m.parameters())
    assert not any(p.requires_grad for m in convs for p in m.parameters())


def _body_matches(model: FastkpModel, state: dict) -> bool:
    """The body holds ``state``, the full library model's state dict (its classifier aside)."""
    body = model.body.state_dict()
    mapped = backbones.body_state(state, model._names, model._timm)
    return all(torch.equal(body[k], mapped[k]) for k in body)


def test_pretrained_weights_load_from_the_torchvision_cache(tmp_path):
    w = backbones.default_weights("resnet18")
    assert w.cache_file is None and "resnet18-f37072fd.pth" in w.where
    state = put_torchvision_weights("resnet18")
    assert backbones.default_weights("resnet18").cache_file is not None
    model = FastkpModel("resnet18", [KeypointHead(n_keypoints=1)], (64, 64), pretrained=True)
    assert _body_matches(model, state)
    assert not _body_matches(FastkpModel("resnet18", [KeypointHead(n_keypoints=1)], (64, 64)), state)


def test_pretrained_weights_load_from_the_hugging_face_cache():
    assert backbones.default_weights(TIMM).cache_file is None
    state = put_timm_weights(TIMM[5:])
    w = backbones.default_weights(TIMM)
    assert w.cache_file is not None and w.cache_file.name == "model.safetensors"
    assert _body_matches(FastkpModel(TIMM, [KeypointHead(n_keypoints=1)], (64, 64), pretrained=True), state)


def train_cli(*args):
    # downloads go to a closed local port: refused at once, whether or not the machine has internet
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    return subprocess.run([sys.executable, "-m", "fastkp.train", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env)


def test_auto_and_yes_offline(data, tmp_path):
    """Empty caches, no network: auto says the body starts random and how to get the weights;
    yes fails with one line and exit 2 (torchvision tries to download, Hugging Face is offline)."""
    common = ["--data", data, "--size", "32", "--bs", "8", "--threads", "1", "--epochs", "1"]
    res = train_cli(*common, "--arch", "mobilenet_v3_large", "--out", tmp_path / "a")
    first = res.stdout.splitlines()[0]
    assert res.returncode == 0 and first.startswith("fastkp: recipe one_cycle: 1 epochs"), res.stdout[:500]
    assert "RANDOM weights" in first and "mobilenet_v3_large-" in first and "--pretrained yes" in first
    assert load_checkpoint(tmp_path / "a" / "best.pth")["config"].pretrained is False
    for arch in ("mobilenet_v3_large", TIMM):
        res = train_cli(*common, "--arch", arch, "--pretrained", "yes", "--out", tmp_path / "b")
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
        assert lines[-1].startswith("fastkp.train: error: --pretrained: pretrained: could not get"), lines[-1]


@pytest.mark.parametrize("arch", [TV, TIMM])
def test_family_trains_resumes_exports_and_matches_eager(data, tmp_path, arch, monkeypatch):
    state = put_torchvision_weights(arch) if arch == TV else put_timm_weights(arch[5:])
    whole, part = tmp_path / "whole", tmp_path / "part"
    copies = {}
    write = runfolder.write_checkpoint

    def keep(path, payload, also):
        write(path, payload, also)
        if Path(path).name == "last.pth":
            copies[payload["epoch"]] = shutil.copy(path, tmp_path / f"last-{payload['epoch']}.pth")

    monkeypatch.setattr(runfolder, "write_checkpoint", keep)
    learn = Learner.from_folder("biwi", data, arch=arch, out=whole, **SETTINGS)  # weights in the cache: fine_tune
    assert (learn.config.pretrained, learn.config.schedule, learn.spec.pretrained) == (True, "fine_tune", True)
    assert _body_matches(learn.model, state)
    learn.fine_tune(1, 2e-3, freeze_epochs=1)
    monkeypatch.setattr(runfolder, "write_checkpoint", write)
    part.mkdir()
    shutil.copy(copies[1], part / "last.pth")
    Learner.from_folder("biwi", data, arch=arch, out=part, **SETTINGS).fine_tune(1, 2e-3, freeze_epochs=1, resume=True)
    a, b = load_checkpoint(whole / "last.pth")["model"], load_checkpoint(part / "last.pth")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    out = tmp_path / "model.pt"
    meta = export_checkpoint(whole / "best.pth", out)
    assert meta.arch == arch and meta.pretrained is True and read_metadata(out).pretrained is True
    images = torch.randint(0, 256, (2, 45, 61, 3), dtype=torch.uint8)
    eager, _, _ = deploy_module(whole / "best.pth")
    with torch.no_grad():
        torch.testing.assert_close(load(out)(images), eager(images), atol=1e-3, rtol=0)


NO_SCRIPT = "timm:hrnet_w18_small"  # timm's HRNet does not compile to TorchScript


def _checkpoint(path: Path, arch: str, size=(64, 64)) -> Path:
    heads = [KeypointHead(n_keypoints=2)]
    model = FastkpModel(arch, heads, size).eval()
    save_checkpoint(path, ModelSpec("landmarks", arch, size, heads), model=model.state_dict())
    return path


def test_a_model_that_does_not_script_is_refused_naming_the_other_formats(tmp_path):
    ckpt = _checkpoint(tmp_path / "h.pth", NO_SCRIPT)
    with pytest.raises(ExportError, match="does not compile to TorchScript .*--format pt2 or --format onnx"):
        export_checkpoint(ckpt, tmp_path / "h.pt")
    assert not (tmp_path / "h.pt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_pt2_and_onnx_work_for_a_model_that_does_not_script(tmp_path, fmt):
    ckpt = _checkpoint(tmp_path / "h.pth", NO_SCRIPT)
    out = tmp_path / f"h.{fmt}"
    export_checkpoint(ckpt, out, fmt)
    images = torch.randint(0, 256, (2, 45, 61, 3), dtype=torch.uint8)
    eager, _, _ = deploy_module(ckpt)
    with torch.no_grad():
        torch.testing.assert_close(load(out)(images), eager(images), atol=1e-3, rtol=0)
