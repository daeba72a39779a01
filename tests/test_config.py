"""One resolved configuration: precedence, presets, config.json round trip, resume checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fastkp import tasks
from fastkp.config import AUG_PRESETS, Config, resolve
from fastkp.errors import CheckpointError, UsageError
from fastkp.pipeline import AugConfig
from fastkp.runstate import check_resumable


def test_demo_and_book_defaults(tmp_path):
    demo, book = resolve("biwi"), resolve("biwi", tmp_path)
    assert (demo.data, demo.size, demo.bs, demo.epochs) == (None, (96, 128), 32, 8)
    assert (book.data, book.size, book.bs, book.epochs, book.lr) == (str(tmp_path), (240, 320), 64, 3, 1e-2)
    assert resolve("pascal", tmp_path).arch == "resnet50" and demo.aug == AugConfig()


def test_flag_beats_recipe_beats_demo(monkeypatch):
    recipe = dataclasses.replace(tasks.TASKS["biwi"], recipe={"bs": 7, "aug": "light"})
    monkeypatch.setitem(tasks.TASKS, "biwi", recipe)
    cfg = resolve("biwi")
    assert (cfg.bs, cfg.size, cfg.aug) == (7, (96, 128), AUG_PRESETS["light"])
    cfg = resolve("biwi", bs=3, aug="fastai", max_rotate=4.0, size=None)
    assert (cfg.bs, cfg.size, cfg.aug) == (3, (96, 128), AugConfig(max_rotate=4.0))


def test_aug_presets_and_overrides():
    assert resolve(aug="none").aug.do_flip is False and resolve(aug="light").aug.do_flip is True
    cfg = resolve(aug="none", max_rotate=5.0, do_flip=True, pad_mode="constant")
    assert cfg.aug == dataclasses.replace(AUG_PRESETS["none"], max_rotate=5.0, do_flip=True, pad_mode="constant")
    assert resolve(aug=AugConfig(max_warp=0.1), max_zoom=1.5).aug == AugConfig(max_warp=0.1, max_zoom=1.5)


@pytest.mark.parametrize("given, setting", [
    ({"size": (16, 16)}, "size"), ({"bs": 0}, "bs"), ({"lr": -1.0}, "lr"), ({"arch": "vgg"}, "arch"),
    ({"device": "tpu"}, "device"), ({"threads": 0}, "threads"), ({"epochs": -1}, "epochs"),
    ({"loss_weights": {"age": 0, "gender": 0}}, "loss_weights"), ({"loss_weights": {"age": True}}, "loss_weights"),
    ({"loss_weights": {"": 1}}, "loss_weights"), ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"format": "csv"}, "format"),  # the demo set has its own format
])
def test_bad_settings_name_the_setting(given, setting):
    with pytest.raises(UsageError) as err:
        resolve(**given)
    assert err.value.setting == setting and str(err.value).startswith(setting)


def test_other_bad_input():
    for call, says in ((lambda: resolve("faces"), "unknown task"), (lambda: resolve(colour=1), "unknown setting"),
                       (lambda: resolve(aug="heavy"), "preset"), (lambda: resolve(max_warp=2.0), "max_warp")):
        with pytest.raises(UsageError, match=says):
            call()


def test_config_json_round_trip(tmp_path):
    cfg = resolve("landmarks", tmp_path / "data", size=(64, 48), aug="light", threads=2, weights="~/r18.pth")
    cfg.write(tmp_path / "config.json")
    d = json.loads((tmp_path / "config.json").read_text())
    flat = {"version", "task", "data", "format", "arch", "size", "bs", "epochs", "freeze_epochs", "lr", "loss",
            "loss_weights", "label_smoothing", "monitor",
            "amp", "channels_last", "compile", "seed", "weights", "on_error", "aug", "threads", "device", "progress"}
    assert set(d) == flat and set(d["aug"]) == {f.name for f in dataclasses.fields(AugConfig)}
    assert "~" not in d["weights"] and d["size"] == [64, 48]
    assert Config.from_dict(d) == cfg
    for added in ("format", "loss_weights", "label_smoothing", "on_error"):  # configs written before them
        del d[added]
    assert Config.from_dict(d) == cfg


def test_resume_names_every_differing_setting(tmp_path):
    saved = resolve("biwi", tmp_path, bs=8, threads=1)
    ckpt = {"config": saved, "plan": [1]}
    check_resumable(ckpt, tmp_path / "last.pth", resolve("biwi", tmp_path, bs=8, threads=2, device="cpu"), [1])
    with pytest.raises(CheckpointError) as err:
        check_resumable(ckpt, tmp_path / "last.pth", resolve("biwi", tmp_path, bs=4, max_rotate=3.0), [1])
    msg = str(err.value)
    assert "bs: 8 there, 4 now" in msg and "aug.max_rotate: 10.0 there, 3.0 now" in msg and "threads" not in msg
    with pytest.raises(CheckpointError, match="is a 'pascal' run, not 'biwi'"):
        check_resumable({"config": resolve("pascal", tmp_path)}, tmp_path, saved, [1])
    with pytest.raises(CheckpointError, match="another schedule"):
        check_resumable(ckpt, tmp_path, saved, [2])


def test_device_cuda_without_a_gpu(monkeypatch):
    import torch

    from fastkp.config import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="no CUDA device is available"):
        resolve_device("cuda")
