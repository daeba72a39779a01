"""fastkp-infer decodes the values, scalar, binary and classes heads: its lines are those
of python -m fastkp.predict byte for byte, and bad entries of these kinds are refused."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile

import pytest
import torch

from fastkp.export import export_checkpoint
from fastkp.heads import BinaryHead, ClassHead, ScalarHead, ValuesHead
from fastkp.predict import cli as predict_cli
from support.images import random_pixels, write_ppm
from support.infer import run_infer
from support.model_files import record, rewrite_metadata, save_model
from support.models import make_heads_checkpoint

pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")

VOCAB = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
GENDER = ["male", "female"]
MODELS = {  # name -> (its heads, the keys of its JSON lines after image, height, width)
    "values": (lambda: [ValuesHead(names=["gx", "gy"], mean=[0.1, -0.2], std=[0.3, 0.4])], ["values"]),
    "classes": (lambda: [ClassHead(vocab=VOCAB)], ["label", "probability", "top5"]),
    "agegender": (lambda: [ScalarHead("age", y_range=(0, 100), unit="years"), BinaryHead("gender", labels=GENDER)],
                  ["age", "gender", "probabilities"]),
    "clash": (lambda: [BinaryHead("gender", labels=GENDER), BinaryHead("smile", labels=["no", "yes"]),
                       ClassHead("mood", vocab=VOCAB[:3])],
              ["gender", "gender_probabilities", "smile", "smile_probabilities", "label", "probability", "top5"]),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("new_heads")
    for name, (heads, _) in MODELS.items():
        export_checkpoint(make_heads_checkpoint(d / f"{name}.pth", heads(), "custom", size=(32, 32)), d / f"{name}.pt")
    return {name: d / f"{name}.pt" for name in MODELS}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    return [write_ppm(d / f"{h}x{w}.ppm", random_pixels(h, w, seed=h)) for h, w in ((31, 45), (60, 40), (9, 9))]


@pytest.fixture(scope="module")
def lines(models, images):
    """name -> (the lines of python -m fastkp.predict, those of fastkp-infer) for the images."""
    out = {}
    for name, path in models.items():
        with contextlib.redirect_stdout(io.StringIO()) as python:
            assert predict_cli([str(path), *map(str, images)]) == 0
        out[name] = python.getvalue().splitlines(), run_infer(path, *images).stdout.splitlines()
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_cpp_prints_the_lines_of_python(lines, name):
    python, cpp = lines[name]
    assert cpp == python
    assert [list(json.loads(line)) for line in cpp] == [["image", "height", "width", *MODELS[name][1]]] * len(python)


def test_the_lines_hold_the_answers(lines):
    for line in lines["classes"][1]:
        got = json.loads(line)
        p = [prob for _, prob in got["top5"]]
        assert len(p) == 5 and p == sorted(p, reverse=True) and got["top5"][0] == [got["label"], got["probability"]]
    for line in lines["agegender"][1]:
        got = json.loads(line)
        assert 0 < got["age"] < 100 and list(got["probabilities"]) == ["female"]
        assert got["gender"] == GENDER[got["probabilities"]["female"] > 0.5]


def read_heads(path) -> tuple[dict, list[dict]]:
    with zipfile.ZipFile(path) as z:
        meta = json.loads(z.read(next(n for n in z.namelist() if n.endswith("extra/fastkp.json"))))
    return meta, meta["heads"]


BAD_ENTRIES = {  # name -> (model, head index, changed fields, what the error says)
    "names repeated": ("values", 0, {"names": ["gx", "gx"]}, "head 'values': field 'names' repeats a name"),
    "mean too short": ("values", 0, {"mean": [0.1]}, "head 'values': field 'mean' has the wrong length"),
    "std zero": ("values", 0, {"std": [0.3, 0]}, "head 'values': field 'std' holds a number that is not positive"),
    "y_range reversed": ("agegender", 0, {"y_range": [100, 0]},
                         "head 'age': field 'y_range' is not [lo, hi] with lo < hi"),
    "unit a number": ("agegender", 0, {"unit": 3}, "head 'age': field 'unit' has the wrong type"),
    "same labels": ("agegender", 1, {"labels": ["x", "x"]}, "head 'gender': field 'labels' is not two different"),
    "threshold text": ("agegender", 1, {"threshold": "half"}, "head 'gender': field 'threshold' has the wrong type"),
    "one class": ("classes", 0, {"vocab": ["happy"]}, "head 'label': field 'vocab' has fewer than 2 classes"),
}


@pytest.mark.parametrize("name", list(BAD_ENTRIES))
def test_bad_entries_are_refused(models, images, tmp_path, name):
    model, index, fields, says = BAD_ENTRIES[name]
    meta, heads = read_heads(models[model])
    heads[index].update(fields)
    path = rewrite_metadata(models[model], tmp_path / "bad.pt", json.dumps(meta))
    proc = run_infer(path, images[0], check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"fastkp-infer: {path}: ") and says in line, line


def test_missing_optional_fields_take_python_defaults(models, images, lines, tmp_path):
    meta, heads = read_heads(models["agegender"])
    del heads[0]["unit"], heads[1]["threshold"]  # "" and 0.5, as in Python
    path = rewrite_metadata(models["agegender"], tmp_path / "defaults.pt", json.dumps(meta))
    assert run_infer(path, *images).stdout.splitlines() == lines["agegender"][0]


class Ties(torch.nn.Module):
    """The same 'probabilities' for every image: three tied highest, a tie below, a NaN."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.1, float("nan"), 0.2, 0.1, 0.2, 0.05, 0.2]).expand(images.size(0), 7)


def test_ties_go_to_the_lower_index_and_nan_last(images, tmp_path, capsys):
    path = save_model(tmp_path / "ties.pt", Ties(), record({"name": "label", "kind": "classes", "vocab": VOCAB}))
    assert predict_cli([str(path), str(images[0])]) == 0
    (line,) = run_infer(path, images[0]).stdout.splitlines()
    assert line == capsys.readouterr().out.strip()
    top = [[VOCAB[i], 0.2 if i in (2, 4, 6) else 0.1] for i in (2, 4, 6, 0, 3)]
    assert json.loads(line)["top5"] == top and json.loads(line)["label"] == VOCAB[2]
