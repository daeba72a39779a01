"""Issue 24's small ones, each from a file or argument crafted here: model files whose
metadata does not describe their network (or holds NaN, or nests deeply), float options
beyond float32, export for a device that is not there, argparse's one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from fastkp import config
from fastkp.errors import UsageError
from fastkp.evaluate import cli as evaluate_cli
from fastkp.export import ExportError, load, read_metadata
from fastkp.export.__main__ import cli as export_cli
from fastkp.predict import cli as predict_cli
from fastkp.predict_boxes import read_boxes_file
from fastkp.train import get_args_parser as train_parser
from support.images import random_pixels, write_ppm
from support.model_files import record, save_model

POINT = {"name": "points", "kind": "keypoints", "n_keypoints": 1, "y_range": [-1.0, 1.0]}


class OnePoint(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(images.size(0), 1, 2)


def _one_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize("n_keypoints", [7, 10**12])
def test_heads_are_checked_against_the_outputs(tmp_path, capsys, n_keypoints):
    path = save_model(tmp_path / "m.pt", OnePoint(), record({**POINT, "n_keypoints": n_keypoints}))
    image = write_ppm(tmp_path / "x.ppm", random_pixels(8, 8))
    with pytest.raises(ExportError, match=r"head 'points' \(keypoints\) expects an output of shape"):
        load(path)(torch.zeros(1, 8, 8, 3, dtype=torch.uint8))
    assert predict_cli([str(path), str(image)]) == 2
    line = _one_line(capsys)
    assert str(path) in line and f"[1, {n_keypoints}, 2]" in line and "[1, 1, 2]" in line


def test_a_model_giving_two_outputs_for_one_head_is_refused(tmp_path):
    class Two(torch.nn.Module):
        def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
            return [torch.zeros(images.size(0), 1, 2), torch.zeros(images.size(0), 1, 2)]

    path = save_model(tmp_path / "m.pt", Two(), record(POINT))
    with pytest.raises(ExportError, match="gives 2 output"):
        load(path)(torch.zeros(1, 8, 8, 3, dtype=torch.uint8))


@pytest.mark.parametrize("text, says", [
    ('"mean": [NaN, 0.5, 0.5]', "NaN is not a JSON number"),
    ('"mean": [Infinity, 0.5, 0.5]', "Infinity is not a JSON number"),
    ('"mean": [1e999, 0.5, 0.5]', "out of range"),
])
def test_non_finite_numbers_in_fastkp_json_are_refused(tmp_path, text, says):
    meta = json.dumps(record(POINT)).replace('"mean": [0.5, 0.5, 0.5]', text)
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(OnePoint()), str(path), _extra_files={"fastkp.json": meta})
    with pytest.raises(ExportError, match=says) as err:
        read_metadata(path)
    assert str(err.value).startswith(f"{path}: fastkp.json")


def test_deeply_nested_fastkp_json_names_the_file_not_the_device(tmp_path, capsys):
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(OnePoint()), str(path), _extra_files={"fastkp.json": "[" * 100_000})
    image = write_ppm(tmp_path / "x.ppm", random_pixels(8, 8))
    assert predict_cli([str(path), str(image)]) == 2
    line = _one_line(capsys)
    assert str(path) in line and "nested too deeply" in line and "--device" not in line


def test_deeply_nested_boxes_line_names_file_and_line(tmp_path):
    boxes = tmp_path / "boxes.jsonl"
    boxes.write_text('{"image": "a.jpg", "boxes": [[0, 0, 4, 4]]}\n' + "[" * 100_000 + "\n")
    with pytest.raises(UsageError, match=f"^{boxes}:2: not JSON .*nested too deeply"):
        read_boxes_file(str(boxes))


@pytest.mark.parametrize("flag", ["--lr", "--box-margin", "--max-rotate", "--label-smoothing"])
@pytest.mark.parametrize("value", ["1e308", "-1e39", "inf", "nan"])
def test_float_options_beyond_float32_are_usage_errors(capsys, flag, value):
    with pytest.raises(SystemExit) as exit_:
        train_parser().parse_args([f"{flag}={value}"])
    assert exit_.value.code == 2
    line = _one_line(capsys)
    assert f"argument {flag}: {value!r} does not fit a float32" in line and "--help" in line


def test_lr_beyond_float32_is_refused_by_the_library_too():
    with pytest.raises(UsageError, match="lr must be a positive number, finite as float32"):
        config.resolve("biwi", lr=1e308)


@pytest.mark.parametrize("cli, argv", [
    (lambda a: train_parser().parse_args(a), ["--bs", "many"]),
    (predict_cli, ["model.pt", "--threads", "x"]),
    (evaluate_cli, ["model.pt", "--bogus"]),
    (export_cli, ["ckpt.pth", "--out", "m.pt", "--format", "gif"]),
])
def test_a_bad_value_is_one_line_naming_help_not_the_usage_block(capsys, cli, argv):
    with pytest.raises(SystemExit) as exit_:
        cli(argv)
    assert exit_.value.code == 2
    line = _one_line(capsys)
    assert "error: " in line and line.endswith("--help") and "usage:" not in line


def test_export_for_cuda_without_cuda_is_refused(tmp_path, monkeypatch, capsys):
    from support.models import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "kp.pth", True, size=(32, 32))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "m.pt"
    assert export_cli([str(ckpt), "--out", str(out), "--device", "cuda"]) == 2
    line = _one_line(capsys)
    assert "--device 'cuda': CUDA is not available" in line and not out.exists()
    assert export_cli([str(ckpt), "--out", str(out), "--device", "tpu"]) == 2
    assert "--device 'tpu'" in _one_line(capsys) and not out.exists()
