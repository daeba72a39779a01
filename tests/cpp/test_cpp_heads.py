"""fastkp-infer and fastkp.json version 2: a model is a list of heads, each read by its
kind's decoder; version 1 files load as one head; records it cannot use are refused."""

from __future__ import annotations

import json
import zipfile
from typing import List, Tuple

import numpy as np
import pytest
import torch

from fastkp.export import export_checkpoint
from support.images import random_pixels, write_ppm
from support.infer import json_lines, run_infer
from support.model_files import record, rewrite_metadata, save_model
from support.models import make_checkpoint

# The tests script small modules with torch.jit directly, which warns of its deprecation.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")

# Version 1's single output as the one head version 2 names: output -> (name, kind, fields).
V1_OUTPUTS = {"keypoints": ("keypoints", "keypoints", ("n_keypoints", "y_range")),
              "probabilities": ("labels", "multilabel", ("vocab", "threshold"))}
V1_FIELDS = ("output", "n_keypoints", "y_range", "vocab", "threshold")


def read_record(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read(next(n for n in z.namelist() if n.endswith("extra/fastkp.json"))))


def as_version_2(meta: dict) -> dict:
    if meta["version"] == 2:
        return meta
    name, kind, fields = V1_OUTPUTS[meta["output"]]
    rest = {k: v for k, v in meta.items() if k not in V1_FIELDS}
    return {**rest, "version": 2, "heads": [{"name": name, "kind": kind, **{k: meta[k] for k in fields}}]}


def as_version_1(meta: dict) -> dict:
    if meta["version"] == 1:
        return meta
    (head,) = meta["heads"]
    output = next(o for o, (_, kind, _) in V1_OUTPUTS.items() if kind == head["kind"])
    rest = {k: v for k, v in meta.items() if k != "heads"}
    return {**rest, "version": 1, "output": output,
            **{k: head.get(k) for k in ("n_keypoints", "y_range", "vocab", "threshold")}}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """output -> a TorchScript file exported by fastkp.export (whichever version it writes)."""
    d = tmp_path_factory.mktemp("exported")
    for output in V1_OUTPUTS:
        export_checkpoint(make_checkpoint(d / f"{output}.pth", output == "keypoints", size=(64, 48)), d / f"{output}.pt")
    return {output: d / f"{output}.pt" for output in V1_OUTPUTS}


@pytest.mark.parametrize("output", list(V1_OUTPUTS))
def test_version_1_and_2_records_give_the_same_lines(exported, output, tmp_path):
    meta = read_record(exported[output])
    v1 = rewrite_metadata(exported[output], tmp_path / "v1.pt", json.dumps(as_version_1(meta), indent=1))
    v2 = rewrite_metadata(exported[output], tmp_path / "v2.pt", json.dumps(as_version_2(meta)))
    assert read_record(v1)["version"] == 1 and read_record(v2)["version"] == 2
    images = [write_ppm(tmp_path / f"{h}x{w}.ppm", random_pixels(h, w, seed=h)) for h, w in ((1, 1), (37, 81))]
    lines = run_infer(v1, *images).stdout
    assert len(json_lines(lines)) == 2
    assert run_infer(v2, *images).stdout == lines
    assert run_infer(exported[output], *images).stdout == lines


# ---- hand-made models with two heads: outputs computed from each image's mean colour ----

def mean_colour(images: torch.Tensor) -> torch.Tensor:
    """(B, 3) mean of each channel of uint8 (B, H, W, 3) images."""
    return images.float().mean(dim=(1, 2))


class PointsAndColours(torch.nn.Module):
    """(B, 2, 2) points ((r, g), (g, b)) and (B, 3) 'probabilities' (r, g, b) / 255."""

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        m = mean_colour(images)
        return torch.stack([m[:, :2], m[:, 1:]], dim=1), m / 255


class PointsAndColoursList(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> List[torch.Tensor]:
        m = mean_colour(images)
        return [torch.stack([m[:, :2], m[:, 1:]], dim=1), m / 255]


class LeftAndRight(torch.nn.Module):
    """Two keypoints outputs: the points above and twice them."""

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        m = mean_colour(images)
        points = torch.stack([m[:, :2], m[:, 1:]], dim=1)
        return points, points * 2


POINTS = {"name": "points", "kind": "keypoints", "n_keypoints": 2, "y_range": [-1, 1], "names": ["rg", "gb"],
          "drawn_as": "cross"}  # a key this fastkp-infer does not know: ignored
COLOURS = {"name": "colours", "kind": "multilabel", "vocab": ["red", "green", "blue"], "threshold": 0.5}
LEFT = {"name": "left", "kind": "keypoints", "n_keypoints": 2, "y_range": [-1, 1], "names": None}
RIGHT = {"name": "right", "kind": "keypoints", "n_keypoints": 2, "y_range": [-1, 1]}
PIXELS = [(200, 40, 130), (10, 250, 90)]  # one plain image each: the means are exact


@pytest.fixture
def plain_images(tmp_path):
    return [write_ppm(tmp_path / f"plain{i}.ppm", np.full((5, 7, 3), rgb, np.uint8)) for i, rgb in enumerate(PIXELS)]


@pytest.mark.parametrize("module", [PointsAndColours, PointsAndColoursList])
def test_two_heads_in_order(module, plain_images, tmp_path):
    model = save_model(tmp_path / "two.pt", module(), record(POINTS, COLOURS))
    records = json_lines(run_infer(model, *plain_images).stdout)
    assert len(records) == len(PIXELS)
    for got, image, (r, g, b) in zip(records, plain_images, PIXELS):
        assert list(got) == ["image", "height", "width", "keypoints", "names", "labels", "probabilities"]
        assert (got["image"], got["height"], got["width"]) == (str(image), 5, 7)
        assert got["keypoints"] == [[r, g], [g, b]] and got["names"] == POINTS["names"]
        assert list(got["probabilities"]) == COLOURS["vocab"]
        want = np.array([r, g, b], np.float32) / np.float32(255)
        np.testing.assert_array_equal(np.array(list(got["probabilities"].values()), np.float32), want)
        assert got["labels"] == [c for c, p in zip(COLOURS["vocab"], want) if p > 0.5]
    assert records[0]["labels"] == ["red", "blue"] and records[1]["labels"] == ["green"]


def test_clashing_keys_take_the_head_name(plain_images, tmp_path):
    model = save_model(tmp_path / "lr.pt", LeftAndRight(), record(LEFT, RIGHT))
    got = json_lines(run_infer(model, plain_images[0]).stdout)[0]
    assert list(got) == ["image", "height", "width", "left_keypoints", "right_keypoints"]
    r, g, b = PIXELS[0]
    assert got["left_keypoints"] == [[r, g], [g, b]]
    assert got["right_keypoints"] == [[2 * r, 2 * g], [2 * g, 2 * b]]


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory):
    """The good two-head file whose fastkp.json the error tests rewrite."""
    return save_model(tmp_path_factory.mktemp("two") / "good.pt", PointsAndColours(), record(POINTS, COLOURS))


BAD_RECORDS = {
    "unknown kind": (record(POINTS, {**COLOURS, "kind": "segmentation"}),
                     "head 'colours' has kind 'segmentation', which this fastkp-infer does not know"),
    "no heads": (record(), "field 'heads' is empty"),
    "heads missing": ({k: v for k, v in record(POINTS).items() if k != "heads"}, "no field 'heads'"),
    "duplicate names": (record(POINTS, {**COLOURS, "name": "points"}), "two heads are named 'points'"),
    "bad name": (record({**POINTS, "name": "left-eye"}, COLOURS), "'left-eye' is not a head name"),
    "empty name": (record({**POINTS, "name": ""}, COLOURS), "'' is not a head name"),
    "no n_keypoints": (record({k: v for k, v in POINTS.items() if k != "n_keypoints"}, COLOURS),
                       "head 'points': no field 'n_keypoints'"),
    "names of another length": (record({**POINTS, "names": ["rg"]}, COLOURS),
                                "head 'points': field 'names' has 1 entries for 2 keypoints"),
    "empty vocab": (record(POINTS, {**COLOURS, "vocab": []}), "head 'colours': field 'vocab' is empty"),
    "version 3": ({**record(POINTS, COLOURS), "version": 3},
                  "fastkp model version 3 is not supported (this fastkp-infer reads versions 1 and 2)"),
}


@pytest.mark.parametrize("name", list(BAD_RECORDS))
def test_bad_records_are_refused(two_heads, name, tmp_path):
    meta, says = BAD_RECORDS[name]
    path = rewrite_metadata(two_heads, tmp_path / "bad.pt", json.dumps(meta))
    proc = run_infer(path, write_ppm(tmp_path / "x.ppm", random_pixels(8, 8)), check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"fastkp-infer: {path}: ") and says in line, line


# Outputs that do not match the heads are found at the forward pass: each image gets an
# error line naming the model, and the exit status is 1 (as for an image that failed).
BAD_OUTPUTS = {
    "more outputs than heads": (record(POINTS),
                                "the model gives 2 outputs, fastkp.json names 1 head: points(keypoints)"),
    "another shape": (record(POINTS, {**COLOURS, "vocab": ["red", "green", "blue", "alpha"]}),
                      "head 'colours' (multilabel) expects an output of shape [1, 4], the model gives [1, 3]"),
}


@pytest.mark.parametrize("name", list(BAD_OUTPUTS))
def test_outputs_not_matching_the_heads(two_heads, name, plain_images, tmp_path):
    meta, says = BAD_OUTPUTS[name]
    path = rewrite_metadata(two_heads, tmp_path / "bad.pt", json.dumps(meta))
    proc = run_infer(path, *plain_images, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == len(plain_images)
    for line in lines:
        assert line.startswith(f"fastkp-infer: {path}: ") and says in line, line
