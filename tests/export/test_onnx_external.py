"""ONNX files whose tensors keep their data in a file beside the model (support/fuzz_onnx.py):
refused wherever the tensor is, before onnxruntime reads that file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastkp.export import ExportError, read_metadata
from fastkp.predict import cli as predict_main
from support.fuzz_onnx import SECRET, write_external_graphs
from support.images import random_pixels, write_ppm
from support.model_files import record

HEAD = {"name": "labels", "kind": "multilabel", "vocab": ["a", "b", "c", "d"], "threshold": 0.5}


@pytest.fixture
def graphs(tmp_path):
    return write_external_graphs(tmp_path, json.dumps({**record(HEAD), "export_format": "onnx"}))


def test_the_crafted_constant_leaks_through_onnxruntime(graphs):
    """What the check stops: onnxruntime answers the bytes of the file beside the model."""
    ort = pytest.importorskip("onnxruntime")
    (out,) = ort.InferenceSession(str(graphs["Constant node"]), providers=["CPUExecutionProvider"]).run(None, {})
    assert np.all(out == 7.0)


def test_external_tensors_are_refused_wherever_they_are(graphs):
    for name, path in graphs.items():
        with pytest.raises(ExportError) as err:
            read_metadata(path)
        message = str(err.value)
        assert message.startswith(f"{path}: ") and "external data" in message and "\n" not in message, (name, message)


def test_predict_refuses_them_in_one_line(graphs, tmp_path, capsys):
    image = write_ppm(tmp_path / "x.ppm", random_pixels(8, 8))
    for name, path in graphs.items():
        assert predict_main([str(path), str(image)]) == 2, name
        captured = capsys.readouterr()
        (line,) = captured.err.splitlines()
        assert captured.out == "" and str(path) in line and "external data" in line, (name, line)
    assert (tmp_path / SECRET).exists()
