"""fastkp-infer and models trained with boxes: fastkp.json's "box_crop" makes the model
take forward(images, boxes); --box and --boxes FILE.jsonl give the boxes, one line per
box with its "box"; without them a box model takes each whole frame (one notice), and a
model without boxes prints what it always printed."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch

from support.images import random_pixels, write_ppm
from support.infer import INFER, json_lines, run_infer

# The tests script small modules with torch.jit directly, which warns of its deprecation.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")


class BoxPoints(torch.nn.Module):
    """Keypoints that show what the model got: the box's centre, its corners, the image's size."""

    def forward(self, images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        size = torch.tensor([images.size(2), images.size(1)], dtype=torch.float32).expand(boxes.size(0), 2)
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        return torch.stack([centre, boxes[:, :2], boxes[:, 2:], size], 1)


class SizePoint(torch.nn.Module):
    """A model without boxes: one keypoint, the image's (width, height)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = torch.tensor([images.size(2), images.size(1)], dtype=torch.float32)
        return size.expand(images.size(0), 1, 2)


def metadata(n_keypoints: int, **extra) -> dict:
    """A version-2 fastkp.json with one keypoints head (the fields fastkp.export writes)."""
    return {"format": "fastkp-model", "version": 2, "task": "boxes", "arch": "test", "input_size": [8, 8],
            "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
            "heads": [{"name": "keypoints", "kind": "keypoints", "n_keypoints": n_keypoints, "y_range": [-1, 1]}],
            "export_format": "torchscript", "device": "any", "resize": "test", "fastkp_version": "0",
            "torch_version": str(torch.__version__), "pretrained": False, **extra}


def save(module: torch.nn.Module, meta: dict, path):
    torch.jit.save(torch.jit.script(module), str(path), _extra_files={"fastkp.json": json.dumps(meta)})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("box_models")
    return {"box": save(BoxPoints(), metadata(4, box_crop={"margin": 0.25, "mode": "pad"}, tta=None), d / "box.pt"),
            "plain": save(SizePoint(), metadata(1), d / "plain.pt")}


@pytest.fixture()
def images(tmp_path):
    return [write_ppm(tmp_path / "a.ppm", random_pixels(30, 40)), write_ppm(tmp_path / "b.ppm", random_pixels(17, 9))]


def infer(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(INFER), *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def expected_points(box, image_hw):
    x0, y0, x1, y1 = box
    return [[(x0 + x1) / 2, (y0 + y1) / 2], [x0, y0], [x1, y1], [image_hw[1], image_hw[0]]]


def test_box_applies_to_every_image(models, images):
    proc = run_infer(models["box"], *images, "--box", "1.5,2,30,16.25")
    assert proc.stderr == ""
    records = json_lines(proc.stdout)
    assert [r["image"] for r in records] == [str(p) for p in images]
    for record, hw in zip(records, [(30, 40), (17, 9)]):
        assert list(record) == ["image", "height", "width", "box", "keypoints"]
        assert (record["height"], record["width"]) == hw
        assert record["box"] == [1.5, 2.0, 30.0, 16.25]
        assert record["keypoints"] == expected_points(record["box"], hw)
    assert '"width": 40, "box": [1.5, 2, 30, 16.25], "keypoints": ' in proc.stdout  # as keypoints are printed


def test_boxes_file_gives_one_line_per_box_in_order(models, images, tmp_path):
    a, b = images
    lines = [{"image": a.name, "boxes": [[0, 0, 10, 10], [5.5, 6, 39, 29]]},
             {"image": str(b), "boxes": [[-4, 1, 3, 20]]}]
    boxes = tmp_path / "boxes.jsonl"
    boxes.write_text("\n".join([json.dumps(lines[0]), "", "  ", json.dumps(lines[1])]) + "\n")
    proc = infer(models["box"], "--boxes", boxes, cwd=tmp_path)  # a path relative to the current folder
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    records = json_lines(proc.stdout)
    assert [(r["image"], r["box"]) for r in records] == [(a.name, [0, 0, 10, 10]), (a.name, [5.5, 6, 39, 29]),
                                                        (str(b), [-4, 1, 3, 20])]
    for record, hw in zip(records, [(30, 40), (30, 40), (17, 9)]):
        assert record["keypoints"] == expected_points(record["box"], hw)
    # one box at a time (--box) gives the same lines as the batch of an image's boxes
    alone = json_lines(run_infer(models["box"], a, "--box", "5.5,6,39,29").stdout)
    assert alone[0]["keypoints"] == records[1]["keypoints"]


def test_boxes_file_with_a_bad_image(models, images, tmp_path):
    boxes = tmp_path / "boxes.jsonl"
    boxes.write_text(json.dumps({"image": str(tmp_path / "missing.ppm"), "boxes": [[0, 0, 1, 1]]}) + "\n" +
                     json.dumps({"image": str(images[0]), "boxes": [[0, 0, 1, 1]]}) + "\n")
    proc = run_infer(models["box"], "--boxes", boxes, check=False)
    assert proc.returncode == 1
    assert [r["image"] for r in json_lines(proc.stdout)] == [str(images[0])]
    (line,) = proc.stderr.splitlines()
    assert "missing.ppm" in line


def test_box_model_without_boxes_takes_whole_frames(models, images):
    proc = run_infer(models["box"], *images)
    (notice,) = proc.stderr.splitlines()  # once, not once per image
    assert notice.startswith("fastkp-infer: ") and "whole frame" in notice
    records = json_lines(proc.stdout)
    assert [r["box"] for r in records] == [[0, 0, 40, 30], [0, 0, 9, 17]]
    for record in records:
        assert record["keypoints"] == expected_points(record["box"], (record["height"], record["width"]))


def test_model_without_boxes_prints_as_before(models, images):
    proc = run_infer(models["plain"], *images)
    assert proc.stderr == ""
    a, b = images
    assert proc.stdout == (f'{{"image": "{a}", "height": 30, "width": 40, "keypoints": [[40, 30]]}}\n'
                           f'{{"image": "{b}", "height": 17, "width": 9, "keypoints": [[9, 17]]}}\n')


BAD_LINES = {
    "not json": ("{\"image\": ", "at byte"),
    "an array": ("[1, 2]", "not a JSON object"),
    "no image": ('{"boxes": [[0, 0, 1, 1]]}', "'image'"),
    "image not a string": ('{"image": 3, "boxes": [[0, 0, 1, 1]]}', "'image'"),
    "no boxes": ('{"image": "a.ppm"}', "'boxes'"),
    "empty boxes": ('{"image": "a.ppm", "boxes": []}', "'boxes' is empty"),
    "three numbers": ('{"image": "a.ppm", "boxes": [[0, 0, 1]]}', "item 0"),
    "a string": ('{"image": "a.ppm", "boxes": [[0, 0, 1, 1], [0, "0", 1, 1]]}', "item 1"),
    "x1 < x0": ('{"image": "a.ppm", "boxes": [[5, 0, 1, 1]]}', "item 0"),
    "empty box": ('{"image": "a.ppm", "boxes": [[0, 0, 0, 1]]}', "x1 > x0"),
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_malformed_boxes_file(models, images, tmp_path, name):
    """Refused before any image runs: one line naming FILE:LINE."""
    text, says = BAD_LINES[name]
    boxes = tmp_path / "boxes.jsonl"
    boxes.write_text(json.dumps({"image": str(images[0]), "boxes": [[0, 0, 1, 1]]}) + "\n\n" + text + "\n")
    proc = run_infer(models["box"], "--boxes", boxes, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"fastkp-infer: {boxes}:3: ") and says in line, line


@pytest.mark.parametrize("box", ["1,2,3", "1,2,3,x", "0,0,1,1,2", "3,0,1,5", "0,5,1,5", "0,0,nan,1", "0,0,inf,5",
                                 "0,0,1e39,5", "0;0;1;1", "0,0,1,1,", " 0,0,1,1", ""])
def test_bad_box(models, images, box):
    proc = run_infer(models["box"], images[0], "--box", box, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("fastkp-infer: --box ") and repr(box) in line


def test_box_usage_errors(models, images, tmp_path):
    boxes = tmp_path / "boxes.jsonl"
    boxes.write_text(json.dumps({"image": str(images[0]), "boxes": [[0, 0, 1, 1]]}) + "\n")
    cases = {"both": ([models["box"], images[0], "--box", "0,0,1,1", "--boxes", boxes], "not both"),
             "paths with --boxes": ([models["box"], images[0], "--boxes", boxes], "no image paths"),
             "no such file": ([models["box"], "--boxes", tmp_path / "none.jsonl"], "none.jsonl"),
             "box, model without": ([models["plain"], images[0], "--box", "0,0,1,1"], "trained without boxes"),
             "boxes, model without": ([models["plain"], "--boxes", boxes], "trained without boxes")}
    for name, (args, says) in cases.items():
        proc = run_infer(*args, check=False)
        assert proc.returncode == 2 and proc.stdout == "", name
        (line,) = proc.stderr.splitlines()
        assert line.startswith("fastkp-infer: ") and says in line, (name, line)
    proc = run_infer(models["box"], images[0], "--box", "0,0,1,1", "--bench", "1", check=False)
    assert proc.returncode == 2 and "--bench" in proc.stderr.splitlines()[0]


@pytest.mark.parametrize("field, value, says", [
    ("box_crop", {"margin": 0.25, "mode": "letterbox"}, "box_crop: field 'mode' is 'letterbox'"),
    ("box_crop", {"margin": "0.25", "mode": "pad"}, "box_crop: field 'margin' has the wrong type"),
    ("box_crop", {"margin": 5, "mode": "pad"}, "box_crop: field 'margin' is not in [0, 4]"),
    ("box_crop", {"mode": "pad"}, "box_crop: no field 'margin'"),
    ("box_crop", "pad", "field 'box_crop' has the wrong type"),
    ("tta", "mirror", "field 'tta' is 'mirror'"),
    ("tta", True, "field 'tta' has the wrong type"),
])
def test_bad_box_metadata(images, tmp_path, field, value, says):
    path = save(BoxPoints(), metadata(4, **{field: value}), tmp_path / "bad.pt")
    proc = run_infer(path, images[0], check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"fastkp-infer: {path}: ") and says in line, line


def test_flip_tta_is_accepted(images, tmp_path):
    path = save(SizePoint(), metadata(1, box_crop=None, tta="flip"), tmp_path / "flip.pt")
    (record,) = json_lines(run_infer(path, images[0]).stdout)
    assert record["keypoints"] == [[40, 30]] and "box" not in record
