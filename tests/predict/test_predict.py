"""python -m fastkp.predict: the JSON lines of fastkp-infer, folders, plots, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from fastkp.export import export_checkpoint, load
from fastkp.predict import cli as predict_main
from support.images import random_pixels, write_jpeg, write_ppm
from support.infer import json_lines, run_infer
from support.models import VOCAB, make_checkpoint


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    out = {}
    for kind, keypoints in (("keypoints", True), ("probabilities", False)):
        export_checkpoint(make_checkpoint(d / f"{kind}.pth", keypoints, size=(48, 48)), d / f"{kind}.pt")
        out[kind] = d / f"{kind}.pt"
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    (d / "sub").mkdir()
    return [write_ppm(d / "a.ppm", random_pixels(31, 45, seed=1)),
            write_jpeg(d / "sub" / "b.jpg", random_pixels(60, 40, seed=2)),
            write_ppm(d / "sub" / "c.ppm", random_pixels(17, 90, seed=3))]


def run_predict(capsys, *args) -> tuple[int, list[dict], str]:
    status = predict_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, json_lines(out), err


@pytest.mark.parametrize("kind", ["keypoints", "probabilities"])
def test_predict_prints_what_fastkp_infer_prints(models, images, kind, capsys):
    status, py, err = run_predict(capsys, models[kind], images[0].parent)  # the folder
    assert status == 0 and err == ""
    cpp = json_lines(run_infer(models[kind], images[0].parent).stdout)
    assert [r["image"] for r in py] == [r["image"] for r in cpp] == [str(p) for p in images]
    for p, c in zip(py, cpp):
        assert list(p) == list(c)  # same keys in the same order
        assert (p["height"], p["width"]) == (c["height"], c["width"])
        if kind == "keypoints":
            np.testing.assert_allclose(p["keypoints"], c["keypoints"], atol=1e-3)
        else:
            assert list(p["probabilities"]) == list(c["probabilities"]) == VOCAB
            np.testing.assert_allclose(list(p["probabilities"].values()), list(c["probabilities"].values()),
                                       atol=1e-5)
            assert p["labels"] == c["labels"]


def test_predict_answers_are_the_model_outputs(models, images, capsys):
    status, records, _ = run_predict(capsys, models["keypoints"], images[0])
    pixels = np.array(Image.open(images[0]))
    want = load(models["keypoints"])(torch.from_numpy(pixels)[None])[0].numpy()
    assert status == 0 and records[0]["height"] == 31 and records[0]["width"] == 45
    np.testing.assert_allclose(records[0]["keypoints"], want, rtol=1e-6)


@pytest.mark.parametrize("kind", ["keypoints", "probabilities"])
def test_predict_plot(models, images, kind, tmp_path, capsys):
    out = tmp_path / "plot.png"
    status, records, _ = run_predict(capsys, models[kind], *images, "--plot", out)
    assert status == 0 and len(records) == 3
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 200


def test_predict_bad_files(models, images, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff" + bytes(100))
    status, records, err = run_predict(capsys, models["keypoints"], images[0], bad, tmp_path / "missing.ppm")
    assert status == 1 and [r["image"] for r in records] == [str(images[0])]
    lines = err.splitlines()
    assert len(lines) == 2 and str(bad) in lines[0] and "missing.ppm" in lines[1]
    status, records, err = run_predict(capsys, images[0], images[0])  # an image given as the model
    assert status == 2 and records == [] and len(err.splitlines()) == 1 and str(images[0]) in err


def test_predict_module_entry_point(models, images):
    proc = subprocess.run([sys.executable, "-m", "fastkp.predict", str(models["probabilities"]), str(images[0])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (record,) = json_lines(proc.stdout)
    assert list(record["probabilities"]) == VOCAB


def test_predict_without_any_image_is_an_error(models, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no image here")
    status, records, err = run_predict(capsys, models["keypoints"], tmp_path / "empty")
    assert status == 2 and records == [] and err.startswith("fastkp.predict: error: no image in")


def test_predict_refuses_zero_threads(models, images, capsys):
    status, records, err = run_predict(capsys, models["keypoints"], images[0], "--threads", "0")
    assert status == 2 and records == [] and "--threads must be a positive int" in err
