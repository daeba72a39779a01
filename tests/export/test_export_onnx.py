"""ONNX export: onnxruntime against eager PyTorch on odd image sizes (keypoints, probabilities,
several heads), metadata_props, fastkp.predict running it, fastkp-infer refusing it, bad files."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from fastkp.export import ExportError, deploy_module, export_checkpoint, load, read_metadata
from fastkp.export.onnx import OPSET
from fastkp.heads import BinaryHead, ScalarHead
from fastkp.predict import cli as predict_main
from support.images import random_pixels, write_ppm
from support.infer import json_lines, run_infer
from support.models import make_checkpoint, make_heads_checkpoint

SIZES = [(1, 37, 81), (2, 101, 67), (3, 64, 48)]  # (batch, height, width), odd ones included


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """kind -> (checkpoint, ONNX file)."""
    d = tmp_path_factory.mktemp("onnx")
    ckpts = {"keypoints": make_checkpoint(d / "kp.pth", True, size=(64, 48)),
             "probabilities": make_checkpoint(d / "pr.pth", False, size=(48, 64)),
             "two heads": make_heads_checkpoint(d / "ag.pth", [ScalarHead("age", y_range=(0.0, 100.0)),
                                                              BinaryHead("gender", labels=("f", "m"))], "agegender")}
    out = {}
    for kind, ckpt in ckpts.items():
        path = d / f"{kind.replace(' ', '_')}.onnx"
        export_checkpoint(ckpt, path, "onnx")
        out[kind] = (ckpt, path)
    return out


@pytest.mark.parametrize("kind, atol", [("keypoints", 1e-3), ("probabilities", 1e-5), ("two heads", 1e-3)])
def test_onnxruntime_matches_eager(exported, kind, atol):
    ckpt, path = exported[kind]
    eager, _, _ = deploy_module(ckpt)
    model = load(path)
    for b, h, w in SIZES:
        images = torch.from_numpy(np.stack([random_pixels(h, w, seed=i) for i in range(b)]))
        with torch.no_grad():
            want = eager.answers(images)
        got = model.answers(images)
        assert len(got) == len(want)
        for g, e in zip(got, want):
            assert g.dtype == torch.float32 and g.shape == e.shape
            torch.testing.assert_close(g, e, atol=atol, rtol=0)


def test_the_file_is_plain_onnx_with_its_metadata(exported):
    ckpt, path = exported["two heads"]
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    assert {n.domain for n in proto.graph.node} <= {"", "ai.onnx"}  # no fastkp:: operator left
    assert [i.name for i in proto.graph.input] == ["images"] and [o.name for o in proto.graph.output] == ["age", "gender"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert all(d.dim_param for d in dims[:3]) and dims[3].dim_value == 3  # dynamic batch, height, width
    meta = read_metadata(path)
    assert (meta.export_format, meta.device, [h["name"] for h in meta.heads]) == ("onnx", "any", ["age", "gender"])
    assert json.loads(next(p.value for p in proto.metadata_props if p.key == "fastkp.json"))["format"] == "fastkp-model"


def test_predict_runs_onnx_like_torchscript(exported, tmp_path, capsys):
    ckpt, path = exported["keypoints"]
    script = tmp_path / "kp.pt"
    export_checkpoint(ckpt, script)
    image = write_ppm(tmp_path / "x.ppm", random_pixels(45, 61))
    records = []
    for model in (path, script):
        assert predict_main([str(model), str(image)]) == 0
        records.append(json_lines(capsys.readouterr().out)[0])
    assert np.allclose(records[0]["keypoints"], records[1]["keypoints"], atol=1e-3)


def test_fastkp_infer_refuses_onnx(exported, tmp_path):
    _, path = exported["keypoints"]
    image = write_ppm(tmp_path / "x.ppm", random_pixels(8, 8))
    renamed = tmp_path / "model.bin"  # told apart by its contents, not only its name
    renamed.write_bytes(path.read_bytes())
    for model in (path, renamed):
        proc = run_infer(model, image, check=False)
        lines = proc.stderr.splitlines()
        assert proc.returncode == 2 and proc.stdout == "" and len(lines) == 1, proc.stderr
        assert str(model) in lines[0] and "an ONNX model" in lines[0] and "onnxruntime" in lines[0]


def _tiny_onnx(path, metadata: str | None, external: bool = False):
    weight = numpy_helper.from_array(np.ones(256, np.float32), "w")  # raw data, which can be external
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [256])], [weight])
    model = helper.make_model(graph)
    if metadata is not None:
        helper.set_model_props(model, {"fastkp.json": metadata})
    onnx.save_model(model, str(path), save_as_external_data=external, location="w.bin", size_threshold=0)
    return path


def test_bad_onnx_files_are_refused_naming_them(exported, tmp_path):
    good = read_metadata(exported["keypoints"][1]).to_json()
    cases = {
        "no metadata": (_tiny_onnx(tmp_path / "plain.onnx", None), "without fastkp.json"),
        "external data": (_tiny_onnx(tmp_path / "ext.onnx", good, external=True), "external data"),
        "garbage": (tmp_path / "garbage.onnx", "not a readable ONNX model"),
        "wrong format": (_tiny_onnx(tmp_path / "fmt.onnx", good.replace('"onnx"', '"pt2"')), "says pt2"),
    }
    (tmp_path / "garbage.onnx").write_bytes(b"\x08" + np.random.default_rng(0).bytes(300))
    for name, (path, says) in cases.items():
        with pytest.raises(ExportError) as err:
            read_metadata(path)
        assert str(path) in str(err.value) and says in str(err.value), (name, err.value)
