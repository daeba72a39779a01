"""python -m fastkp.predict with a model trained on box crops: --box, --boxes FILE.jsonl, the
whole frame without them, usage errors, --tta flip, and the lines fastkp-infer prints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from fastkp.export import export_checkpoint, load
from fastkp.heads import KeypointHead
from fastkp import predict
from fastkp.export import DeployedModel
from fastkp.predict import cli as predict_main
from support.images import random_pixels, write_jpeg
from support.infer import INFER, json_lines, run_infer
from support.models import make_heads_checkpoint

FLIP_INDEX = [1, 0, 2]
BOX_CROP = {"margin": 0.25, "mode": "pad"}


def make_box_checkpoint(path, box_crop: dict | None, flip_index: list[int] | None, seed: int = 0):
    """A random 32x32 ResNet-18 checkpoint of one 3-point keypoint head, trained on box crops
    when ``box_crop`` is given."""
    heads = [KeypointHead(n_keypoints=3, flip_index=flip_index)]
    return make_heads_checkpoint(path, heads, "landmarks", (32, 32), seed, box_crop)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("box_models")
    box = make_box_checkpoint(d / "box.pth", BOX_CROP, FLIP_INDEX)
    export_checkpoint(box, d / "box.pt", "torchscript")
    export_checkpoint(box, d / "box_flip.pt", "torchscript", tta="flip")
    export_checkpoint(make_box_checkpoint(d / "plain.pth", None, None, seed=1), d / "plain.pt", "torchscript")
    return {"box": d / "box.pt", "flip": d / "box_flip.pt", "plain": d / "plain.pt"}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("box_images")
    a = d / "a.png"
    Image.fromarray(random_pixels(40, 56, seed=1)).save(a)
    return [a, write_jpeg(d / "b.jpg", random_pixels(48, 30, seed=2))]


def run_predict(capsys, *args) -> tuple[int, list[dict], str]:
    status = predict_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, json_lines(out), err


def pixels_of(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.array(im.convert("RGB"))


def direct(model_path, path, boxes) -> np.ndarray:
    """The keypoints of DeployedModel.answers on the image's pixels and ``boxes``: (B, 3, 2)."""
    pixels = torch.from_numpy(pixels_of(path))[None].expand(len(boxes), -1, -1, -1)
    (points,) = load(model_path).answers(pixels, torch.tensor(boxes, dtype=torch.float32))
    return points.numpy()


def write_boxes(path, lines) -> str:
    """A --boxes file: each of ``lines`` as given (a str) or as JSON (a dict)."""
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return str(path)


def single_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --- --box, --boxes, the whole frame ---------------------------------------------------------

def test_box_gives_one_line_per_image(models, images, capsys):
    status, records, err = run_predict(capsys, models["box"], *images, "--box", "3.5,2,30,25.25")
    assert status == 0 and err == ""
    assert [r["image"] for r in records] == [str(p) for p in images]
    for record, path, hw in zip(records, images, [(40, 56), (48, 30)]):
        assert list(record) == ["image", "height", "width", "box", "keypoints"]
        assert (record["height"], record["width"]) == hw
        assert record["box"] == [3.5, 2.0, 30.0, 25.25]
        np.testing.assert_allclose(record["keypoints"], direct(models["box"], path, [record["box"]])[0], rtol=1e-6,
                                   atol=1e-4)
    assert records[0]["keypoints"] != records[1]["keypoints"]  # the pixels matter


def test_boxes_file_gives_one_line_per_box_in_file_order(models, images, tmp_path, capsys):
    a, b = images
    first = {"image": str(b), "boxes": [[1, 2, 20, 30], [-5, 10.5, 25, 50]], "scores": [0.9, 0.4]}  # extra keys pass
    file = write_boxes(tmp_path / "boxes.jsonl", [first, "", "   ", {"image": str(a), "boxes": [[10, 5, 50, 35]]}])
    status, records, err = run_predict(capsys, models["box"], "--boxes", file)
    assert status == 0 and err == ""
    assert [(r["image"], r["box"]) for r in records] == [(str(b), [1, 2, 20, 30]), (str(b), [-5, 10.5, 25, 50]),
                                                        (str(a), [10, 5, 50, 35])]
    want = np.concatenate([direct(models["box"], b, [r["box"] for r in records[:2]]),
                           direct(models["box"], a, [records[2]["box"]])])
    np.testing.assert_allclose([r["keypoints"] for r in records], want, rtol=1e-6, atol=1e-4)
    assert records[0]["keypoints"] != records[1]["keypoints"]  # the box matters


def test_many_boxes_run_in_memory_bounded_batches(models, images, tmp_path, capsys, monkeypatch):
    """Each box needs its own copy of the image: they go to the model BATCH_BYTES at a time,
    with the same answers."""
    a, _ = images
    boxes = [[i, i, 30 + i, 28 + i] for i in range(5)]
    file = write_boxes(tmp_path / "many.jsonl", [{"image": str(a), "boxes": boxes}])
    _, whole, _ = run_predict(capsys, models["box"], "--boxes", file)
    calls = []
    model_answers = DeployedModel.answers
    monkeypatch.setattr(DeployedModel, "answers", lambda self, im, bx=None: calls.append(len(im)) or
                        model_answers(self, im, bx))
    monkeypatch.setattr(predict, "BATCH_BYTES", 2 * pixels_of(a).nbytes)
    status, chunked, _ = run_predict(capsys, models["box"], "--boxes", file)
    assert status == 0 and calls == [2, 2, 1]
    np.testing.assert_allclose([r["keypoints"] for r in chunked], [r["keypoints"] for r in whole], atol=1e-4)


def test_box_model_without_boxes_takes_the_whole_frame(models, images, capsys):
    status, records, err = run_predict(capsys, models["box"], *images)
    assert status == 0
    notice = single_line(err)  # once, not once per image
    assert notice.startswith("fastkp.predict: ") and "whole frame" in notice
    assert [r["box"] for r in records] == [[0, 0, 56, 40], [0, 0, 30, 48]]
    for record, path in zip(records, images):
        np.testing.assert_allclose(record["keypoints"], direct(models["box"], path, [record["box"]])[0], rtol=1e-6,
                                   atol=1e-4)


def test_model_without_boxes_prints_no_box(models, images, capsys):
    status, records, err = run_predict(capsys, models["plain"], images[0])
    assert status == 0 and err == "" and list(records[0]) == ["image", "height", "width", "keypoints"]


def test_odd_but_valid_box(models, images, capsys):
    status, records, err = run_predict(capsys, models["box"], images[0], "--box", "-1.5,.5,1e1,2E+1")
    assert status == 0 and err == "" and records[0]["box"] == [-1.5, 0.5, 10, 20]
    status, records, err = run_predict(capsys, models["box"], images[0], "--box", "-0,1e-310,3.,00004e-0")
    assert status == 0 and err == "" and records[0]["box"] == [0, 0, 3, 4]


# --- usage errors: exit 2, one stderr line, nothing run --------------------------------------

BAD_BOXES = ["1,2,3", "1,2,0,0", " 1,2,3,4", "1,2,3,4 ", "nan,0,1,1", "0,0,inf,1", "+1,2,3,4", "1, 2,3,4",
             "1,2,3,4,", "", "0,0,1e39,5", "0,0,1e-50,1", "1e-400,0,1,1", "0,0,1,1e400", "0x1,0,2,2", "1e,0,2,2",
             "1;2;3;4", "3,0,1,5", "-,0,1,1", "\u0661,0,2,2"]


@pytest.mark.parametrize("box", BAD_BOXES)
def test_bad_box(models, images, box, capsys):
    status, records, err = run_predict(capsys, models["box"], images[0], "--box", box)
    assert status == 2 and records == []
    line = single_line(err)
    assert line.startswith("fastkp.predict: error: --box ") and repr(box) in line, line


BAD_LINES = {
    "not json": ('{"image": ', "not JSON"),
    "an array": ("[1, 2]", '"boxes"'),
    "no image": ('{"boxes": [[0, 0, 1, 1]]}', '"image"'),
    "no boxes": ('{"image": "a.png"}', '"boxes"'),
    "image not a string": ('{"image": 3, "boxes": [[0, 0, 1, 1]]}', '"image"'),
    "empty boxes": ('{"image": "a.png", "boxes": []}', '"boxes"'),
    "three numbers": ('{"image": "a.png", "boxes": [[0, 0, 1]]}', "four numbers"),
    "a string": ('{"image": "a.png", "boxes": [[0, 0, 1, 1], [0, "0", 1, 1]]}', "four numbers"),
    "x1 < x0": ('{"image": "a.png", "boxes": [[5, 0, 1, 1]]}', "x1 > x0"),
    "NaN": ('{"image": "a.png", "boxes": [[0, NaN, 1, 1]]}', "finite"),
    "beyond float32": ('{"image": "a.png", "boxes": [[0, 0, 1e39, 1]]}', "finite"),
    "beyond float64": ('{"image": "a.png", "boxes": [[0, 0, 1' + "0" * 400 + ', 1]]}', "finite"),
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_malformed_boxes_file(models, images, tmp_path, name, capsys):
    """Refused before any image runs (the good first line prints nothing), naming FILE:LINE."""
    text, says = BAD_LINES[name]
    file = write_boxes(tmp_path / "boxes.jsonl", [{"image": str(images[0]), "boxes": [[0, 0, 5, 5]]}, "", text])
    status, records, err = run_predict(capsys, models["box"], "--boxes", file)
    assert status == 2 and records == []
    line = single_line(err)
    assert line.startswith(f"fastkp.predict: error: {file}:3: ") and says in line, line


def test_box_usage_errors(models, images, tmp_path, capsys):
    file = write_boxes(tmp_path / "boxes.jsonl", [{"image": str(images[0]), "boxes": [[0, 0, 5, 5]]}])
    cases = {
        "both": ([models["box"], images[0], "--box", "0,0,1,1", "--boxes", file], "not both"),
        "PATH with --boxes": ([models["box"], images[0], "--boxes", file], "no PATH"),
        "no such file": ([models["box"], "--boxes", tmp_path / "none.jsonl"], "none.jsonl"),
        "empty file": ([models["box"], "--boxes", write_boxes(tmp_path / "empty.jsonl", ["", " "])], "no line"),
        "--box, model without boxes": ([models["plain"], images[0], "--box", "0,0,1,1"], "trained without boxes"),
        "--boxes, model without boxes": ([models["plain"], "--boxes", file], "trained without boxes"),
        "--tta flip, no flip permutation": ([models["plain"], images[0], "--tta", "flip"], "flip permutation"),
        "--tta flip, flip test inside": ([models["flip"], images[0], "--box", "0,0,9,9", "--tta", "flip"],
                                         "already runs the flip test"),
        "--tta flip, flip test inside, no box": ([models["flip"], images[0], "--tta", "flip"],
                                                 "already runs the flip test"),
    }
    for name, (args, says) in cases.items():
        status, records, err = run_predict(capsys, *args)
        assert status == 2 and records == [], name
        line = single_line(err)
        assert line.startswith("fastkp.predict: error: ") and says in line, (name, line)


# --- --tta flip -------------------------------------------------------------------------------

def manual_flip(model_path, path, box) -> np.ndarray:
    """The flip test by hand: the mirrored image and box through the model, its points
    brought back (x -> W - x, then the flip permutation) and averaged with the plain answer."""
    pixels = pixels_of(path)
    w = pixels.shape[1]
    x0, y0, x1, y1 = box
    model = load(model_path)
    (plain,) = model.answers(torch.from_numpy(pixels)[None], torch.tensor([box], dtype=torch.float32))
    mirrored_pixels = torch.from_numpy(np.ascontiguousarray(pixels[:, ::-1]))[None]
    (mirrored,) = model.answers(mirrored_pixels, torch.tensor([[w - x1, y0, w - x0, y1]], dtype=torch.float32))
    back = mirrored[0].numpy()[FLIP_INDEX].astype(np.float64)
    back[:, 0] = w - back[:, 0]
    return (plain[0].numpy() + back) / 2


def test_tta_flip(models, images, tmp_path, capsys):
    a, b = images
    file = write_boxes(tmp_path / "boxes.jsonl", [{"image": str(a), "boxes": [[3, 4, 40, 30], [20.5, 1, 55, 39]]},
                                                  {"image": str(b), "boxes": [[-2, 5, 25, 44]]}])
    status, outside, err = run_predict(capsys, models["box"], "--boxes", file, "--tta", "flip")
    assert status == 0 and err == ""
    status, inside, err = run_predict(capsys, models["flip"], "--boxes", file)
    assert status == 0 and err == ""
    _, plain, _ = run_predict(capsys, models["box"], "--boxes", file)
    assert [(r["image"], r["box"]) for r in outside] == [(r["image"], r["box"]) for r in inside]
    for o, i, p in zip(outside, inside, plain):
        np.testing.assert_allclose(o["keypoints"], i["keypoints"], atol=1e-3)
        np.testing.assert_allclose(o["keypoints"], manual_flip(models["box"], o["image"], o["box"]), atol=1e-3)
        assert np.abs(np.subtract(o["keypoints"], p["keypoints"])).max() > 1e-2  # the flip test changes answers


def test_tta_flip_whole_frame(models, images, capsys):
    status, records, err = run_predict(capsys, models["box"], images[1], "--tta", "flip")
    assert status == 0 and "whole frame" in single_line(err)
    np.testing.assert_allclose(records[0]["keypoints"], manual_flip(models["box"], images[1], [0, 0, 30, 48]),
                               atol=1e-3)


# --- the lines fastkp-infer prints ------------------------------------------------------------

needs_infer = pytest.mark.skipif(not INFER.exists(), reason="fastkp-infer is not built")


def assert_same_lines(py: list[dict], cpp: list[dict]) -> None:
    assert len(py) == len(cpp) > 0
    for p, c in zip(py, cpp):
        assert list(p) == list(c)
        assert (p["image"], p["height"], p["width"]) == (c["image"], c["height"], c["width"])
        np.testing.assert_allclose(p["box"], c["box"], atol=1e-3)
        np.testing.assert_allclose(p["keypoints"], c["keypoints"], atol=1e-3)


@needs_infer
@pytest.mark.parametrize("model", ["box", "flip"])
def test_fastkp_infer_prints_the_same_lines(models, images, tmp_path, model, capsys):
    a, b = images
    file = write_boxes(tmp_path / "boxes.jsonl", [{"image": str(b), "boxes": [[1, 2, 20, 30], [-5, 10.5, 25, 50]]},
                                                  {"image": str(a), "boxes": [[10, 5, 50, 35]]}])
    runs = [["--boxes", file]]
    if model == "box":  # the flip test inside changes nothing in how boxes are given
        runs += [[*images, "--box", "-1.5,.5,1e1,2E+1"], [*images, "--box", "3.5,2,30,25.25"], images]
    for args in runs:
        status, py, _ = run_predict(capsys, models[model], *args)
        assert status == 0
        assert_same_lines(py, json_lines(run_infer(models[model], *args).stdout))


# --box strings refused here that test_cpp_infer_boxes does not try on fastkp-infer
CPP_BAD_BOXES = ["+1,2,3,4", "1, 2,3,4", "1,2,3,4 ", "0,0,1e-50,1", "1e-400,0,1,1", "0x1,0,2,2", "1e,0,2,2",
                 "-,0,1,1", "\u0661,0,2,2"]


@needs_infer
def test_fastkp_infer_refuses_the_same_boxes(models, images):
    """The --box strings Python refuses and the C++ tests do not try: fastkp-infer refuses them
    too, and takes the odd ones Python takes."""
    assert set(CPP_BAD_BOXES) <= set(BAD_BOXES)
    for box in CPP_BAD_BOXES:
        proc = run_infer(models["box"], images[0], "--box", box, check=False)
        assert proc.returncode == 2 and proc.stdout == "", box
    (record,) = json_lines(run_infer(models["box"], images[0], "--box", "-0,1e-310,3.,00004e-0").stdout)
    assert record["box"] == [0, 0, 3, 4]  # as test_odd_but_valid_box
