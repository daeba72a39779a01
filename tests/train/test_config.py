"""One resolved configuration: precedence, presets, config.json round trip, resume checks."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from fastkp import tasks
from fastkp.config import AUG_PRESETS, Config, recipe, resolve
from fastkp.errors import CheckpointError, UsageError
from fastkp.pipeline import AugConfig
from fastkp.runstate import check_resumable


def test_demo_and_book_defaults(tmp_path):
    demo, book = resolve("biwi", schedule="fine_tune"), resolve("biwi", tmp_path, schedule="fine_tune")
    assert (demo.data, demo.size, demo.bs, demo.epochs, demo.freeze_epochs) == (None, (96, 128), 32, 8, 1)
    assert (book.data, book.size, book.bs, book.epochs, book.lr) == (str(tmp_path), (240, 320), 64, 3, 1e-2)
    assert resolve("pascal", tmp_path).arch == "resnet50" and demo.aug == AugConfig()


def test_a_random_body_gets_one_cycle_over_the_recipes_epochs(tmp_path):
    """No weights in the (empty) cache: pretrained=auto comes to False, schedule=auto to one_cycle
    over the recipe's epochs plus its frozen ones, at 3e-3, with flips only."""
    cfg = resolve("biwi")
    assert (cfg.pretrained, cfg.schedule, cfg.epochs, cfg.freeze_epochs, cfg.lr) == (False, "one_cycle", 9, 0, 3e-3)
    assert cfg.aug == AUG_PRESETS["light"]
    assert resolve("pascal", tmp_path).epochs == 3 + 4  # the book's fine_tune(3, freeze_epochs=4)
    cfg = resolve("biwi", epochs=5, lr=1e-3, aug="fastai")
    assert (cfg.epochs, cfg.lr, cfg.aug) == (5, 1e-3, AugConfig())
    assert resolve("regression").aug == AUG_PRESETS["none"]  # the task's recipe beats the schedule's preset
    with pytest.raises(UsageError, match="freeze_epochs applies to fine_tune only") as err:
        resolve("biwi", freeze_epochs=1)
    assert err.value.setting == "freeze_epochs"
    line = recipe(resolve("biwi"))
    assert line.startswith("fastkp: recipe one_cycle: 9 epochs or more (at least 300 steps, sized to the data), "
                           "every layer at up to 0.003, light augmentation "
                           "(the default for a random body); the body starts from RANDOM weights") and \
        "--pretrained yes downloads them" in line


def test_pretrained_weights_get_fine_tune(tmp_path):
    cfg = resolve("biwi", pretrained="yes")  # resolving never downloads: building the model does
    assert (cfg.pretrained, cfg.schedule, cfg.epochs, cfg.freeze_epochs, cfg.lr) == (True, "fine_tune", 8, 1, 1e-2)
    assert cfg.aug == AugConfig() and resolve("biwi", pretrained=True) == cfg
    cfg = resolve("biwi", weights=tmp_path / "r18.pth")
    assert (cfg.pretrained, cfg.schedule) == (True, "fine_tune") and str(tmp_path) in recipe(cfg)
    assert resolve("biwi", pretrained="yes", schedule="one_cycle").schedule == "one_cycle"
    for given in ({"pretrained": "maybe"}, {"pretrained": "no", "weights": tmp_path / "r18.pth"},
                  {"pretrained": "yes", "arch": "timm:mobilenetv3_large_075"}):  # timm has no weights for it
        with pytest.raises(UsageError) as err:
            resolve("biwi", **given)
        assert err.value.setting == "pretrained"


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
    ({"arch": "timm:no_such_net"}, "arch"), ({"schedule": "cosine"}, "schedule"),
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
            "loss_weights", "label_smoothing", "monitor", "amp", "channels_last", "compile", "seed", "weights",
            "pretrained", "schedule", "on_error", "aug", "threads", "device", "progress", "box_crop", "box_margin",
            "box_mode", "flip_json", "max_pixels", "head", "min_steps"}
    assert set(d) == flat and set(d["aug"]) == {f.name for f in dataclasses.fields(AugConfig)}
    assert "~" not in d["weights"] and d["size"] == [64, 48]
    assert Config.from_dict(d) == cfg and (d["pretrained"], d["schedule"]) == (True, "fine_tune")
    for added in ("format", "loss_weights", "label_smoothing", "on_error"):  # configs written before them
        del d[added]
    assert Config.from_dict(d) == cfg
    del d["pretrained"], d["schedule"]  # written before the weights chose the schedule: fine_tune, random body
    assert Config.from_dict(d) == dataclasses.replace(cfg, pretrained=False, schedule="fine_tune")
    del d["head"], d["min_steps"]  # written before heads had types: the fastai head, epochs as given
    assert Config.from_dict(d) == dataclasses.replace(cfg, pretrained=False, schedule="fine_tune", head="fastai",
                                                      min_steps=None)


def test_runs_from_before_box_crops_resume(tmp_path):
    """A config.json written before box crops (no box fields, the light preset) resumes."""
    now = resolve("keypoints", tmp_path, aug="light", threads=1)
    d = now.to_dict()
    for added in ("box_crop", "box_margin", "box_mode", "flip_json"):
        del d[added]
    del d["aug"]["box_scale"], d["aug"]["box_shift"]
    old = Config.from_dict(d)
    assert old.aug.box_scale != now.aug.box_scale and old.differences(now) == []
    boxed = dataclasses.replace(now, box_crop=True)
    assert sorted(dataclasses.replace(old, box_crop=True).differences(boxed)) == ["aug.box_scale", "aug.box_shift"]


def test_resume_names_every_differing_setting(tmp_path):
    saved = resolve("biwi", tmp_path, bs=8, threads=1)
    ckpt = {"config": saved, "plan": [1]}
    check_resumable(ckpt, tmp_path / "last.pth", resolve("biwi", tmp_path, bs=8, threads=2, device="cpu"), [1])
    with pytest.raises(CheckpointError) as err:
        check_resumable(ckpt, tmp_path / "last.pth", resolve("biwi", tmp_path, bs=4, max_rotate=3.0), [1])
    msg = str(err.value)
    assert "bs: 8 there, 4 now" in msg and "aug.max_rotate: 0.0 there, 3.0 now" in msg and "threads" not in msg
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


def test_pixel_limit_and_threads_are_resolved_settings(tmp_path, monkeypatch):
    """Not module globals: the Config holds them, from the flag, the user's variable or the default."""
    from fastkp.data.pixels import DEFAULT_MAX_PIXELS, ENV

    monkeypatch.delenv(ENV, raising=False)
    cfg = resolve("landmarks", tmp_path / "data")
    assert cfg.max_pixels == DEFAULT_MAX_PIXELS and cfg.threads == torch.get_num_threads()
    monkeypatch.setenv(ENV, "1234")
    assert resolve("landmarks", tmp_path / "data").max_pixels == 1234
    assert resolve("landmarks", tmp_path / "data", max_pixels=99, threads=1).max_pixels == 99
    with pytest.raises(UsageError, match="max_pixels must be a positive integer") as e:
        resolve("landmarks", tmp_path / "data", max_pixels=0)
    assert e.value.setting == "max_pixels"
    assert "max_pixels" not in cfg.differences(dataclasses.replace(cfg, max_pixels=5))  # a resume may change it


def test_max_pixels_flag_reaches_the_readers(tmp_path, capsys):
    from fastkp.data.synth import make_landmarks
    from fastkp.train import cli

    root = make_landmarks(tmp_path / "faces", n_images=6, k=5, size=(32, 32))
    assert cli(["--task", "landmarks", "--data", str(root), "--max-pixels", "0", "--out", str(tmp_path / "r")]) == 2
    assert "fastkp.train: error: --max-pixels: max_pixels must be a positive integer" in capsys.readouterr().err
    assert cli(["--task", "landmarks", "--data", str(root), "--max-pixels", "1000", "--out", str(tmp_path / "r")]) == 2
    assert "more than the limit of 1,000 pixels" in capsys.readouterr().err


def test_head_defaults_by_task_and_heatmap_is_for_keypoints(tmp_path):
    assert resolve("keypoints", None).head == "heatmap" and resolve("biwi", None).head == "heatmap"
    assert resolve("pascal", None).head == "fastai" and resolve("keypoints", None, head="linear").head == "linear"
    with pytest.raises(UsageError, match="head must be one of fastai, linear for task pascal") as e:
        resolve("pascal", None, head="heatmap")
    assert e.value.setting == "head"
