"""python -m fastkp.train end to end: learning, resume after kill -9, torchrun, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fastkp.checkpoint import load_checkpoint
from fastkp.data.synth import make_biwi, make_pascal
from fastkp.learner import Learner

TINY = ["--size", "32", "32", "--bs", "8", "--threads", "1", "--arch", "resnet18"]


def train_cli(*args, env=None, check=True, timeout=600):
    res = subprocess.run([sys.executable, "-m", "fastkp.train", *map(str, args)], capture_output=True,
                         text=True, env=env, timeout=timeout)
    if check:
        assert res.returncode == 0, res.stderr[-3000:]
    return res


@pytest.fixture(scope="module")
def tiny_biwi(tmp_path_factory) -> Path:
    return make_biwi(tmp_path_factory.mktemp("tiny") / "biwi", persons=3, frames_per_person=16, size=(96, 128))


def metrics_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_biwi_learns_better_than_the_constant_predictor(tmp_path):
    root = make_biwi(tmp_path / "biwi", persons=7, frames_per_person=200, size=(240, 320))
    learn = Learner.from_folder("biwi", root, size=(64, 96), bs=32, amp=True, out=tmp_path / "run", progress=False)
    base = learn.constant_baseline()
    assert (learn.config.schedule, learn.config.lr) == ("one_cycle", 3e-3)  # a random body's recipe
    history = learn.fit(9, learn.config.lr)
    best = min(h["rmse_px"] for h in history)
    assert best < 0.55 * base["rmse_px"], (best, base)  # 0.40x measured (fine_tune's bar was 0.85x)
    ckpt = load_checkpoint(tmp_path / "run" / "best.pth")
    assert ckpt["config"].task == "biwi" and ckpt["best"] == pytest.approx(best)
    lines = metrics_lines(tmp_path / "run")
    assert [m["epoch"] for m in lines] == list(range(1, 10))
    assert {"train_loss", "valid_loss", "rmse", "rmse_px"} <= lines[0].keys()
    for png in ("show_batch.png", "show_results.png", "losses.png"):
        assert (tmp_path / "run" / png).stat().st_size > 1000
    assert lines[0]["rmse_px_image"] > lines[0]["rmse_px"]  # 320x240 frames seen at 96x64
    pred = learn.predict([learn.valid_samples[0].path])[0]
    assert len(pred["keypoints"]) == 1 and all(0 <= v < 400 for v in pred["keypoints"][0])
    assert pred["image"] == learn.valid_samples[0].path and (pred["height"], pred["width"]) == (240, 320)


def test_pascal_learns_better_than_class_frequencies(tmp_path):
    root = make_pascal(tmp_path / "pascal", n_images=480, size=(120, 160))
    learn = Learner.from_folder("pascal", root, arch="resnet18", size=(64, 64), bs=32, amp=True, out=tmp_path / "run",
                    schedule="fine_tune",
                    progress=False)
    base = learn.constant_baseline()
    history = learn.fine_tune(9, 1e-2, freeze_epochs=1)
    best = max(h["mAP"] for h in history)
    assert best > 1.5 * base["mAP"] and best > base["mAP"] + 0.05, (best, base)
    assert 0.05 <= load_checkpoint(tmp_path / "run" / "best.pth")["spec"].heads[0].threshold <= 0.95
    assert {"accuracy_multi", "mAP", "threshold"} <= metrics_lines(tmp_path / "run")[0].keys()


def test_kill_and_resume_ends_with_the_same_weights(tmp_path, tiny_biwi):
    args = ["--data", tiny_biwi, *TINY, "--epochs", "2", "--freeze-epochs", "1", "--schedule", "fine_tune",
            "--seed", "3"]
    train_cli(*args, "--out", tmp_path / "whole")

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "fastkp.train", *map(str, args), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "last.pth").exists():  # killed as soon as the first epoch is saved
        assert proc.poll() is None and time.time() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(out / "last.pth")["epoch"] < 3
    train_cli(*args, "--out", out, "--resume")

    whole, resumed = load_checkpoint(tmp_path / "whole" / "last.pth"), load_checkpoint(out / "last.pth")
    assert resumed["epoch"] == whole["epoch"] == 3
    for name, tensor in whole["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    assert [m["epoch"] for m in metrics_lines(out)] == [1, 2, 3]
    assert metrics_lines(out) == [
        {**m, "time_s": r["time_s"], "train_img_s": r["train_img_s"]}
        for m, r in zip(metrics_lines(tmp_path / "whole"), metrics_lines(out))
    ]


def test_torchrun_two_processes_on_cpu(tmp_path, tiny_biwi):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "fastkp.train", "--data", str(tiny_biwi), *TINY, "--bs", "4", "--epochs", "1",
           "--freeze-epochs", "1", "--schedule", "fine_tune", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert [m["epoch"] for m in metrics_lines(out)] == [1, 2]
    assert load_checkpoint(out / "last.pth")["epoch"] == 2
    assert "2 processes" in res.stdout
    assert res.stdout.count("valid_loss") == 1  # only rank 0 prints


def test_help_explains_every_flag():
    res = train_cli("--help")
    for flag in ("--task", "--data", "--arch", "--size", "--bs", "--epochs", "--freeze-epochs", "--lr", "--amp",
                 "--no-channels-last", "--weights", "--compile", "--out", "--resume", "--seed", "--device",
                 "--lr-find", "--threads"):
        assert flag in res.stdout


def one_error_line(res) -> str:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr, res.stderr
    return res.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda tmp, data: ["--data", tmp / "nowhere"], "does not exist"),
        (lambda tmp, data: ["--data", tmp], "no person folders"),
        (lambda tmp, data: ["--data", data, "--size", "16", "16"], "at least 32 pixels"),
        (lambda tmp, data: ["--data", data, *TINY, "--out", tmp / "none", "--resume"], "last.pth does not exist"),
        (lambda tmp, data: ["--data", data, *TINY, "--weights", tmp / "r18.pth"], "no such file"),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path, tiny_biwi, make_args, message):
    line = one_error_line(train_cli(*make_args(tmp_path, tiny_biwi), check=False))
    assert line.startswith("fastkp.train: error:") and message in line


def test_unknown_task_and_arch_are_refused(tiny_biwi):
    res = train_cli("--task", "faces", check=False)
    assert res.returncode == 2 and "invalid choice" in res.stderr
    for arch, message in (("no_such_net", "arch 'no_such_net': unknown"), ("timm:no_such_net", "unknown timm model"),
                          ("vit_b_16", "not a (B, C, H, W) map")):
        line = one_error_line(train_cli("--data", tiny_biwi, *TINY, "--arch", arch, check=False))
        assert line.startswith("fastkp.train: error: --arch: ") and message in line, line


def test_resume_refuses_corrupt_or_foreign_checkpoints(tmp_path, tiny_biwi):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pth").write_bytes(b"not a checkpoint at all")
    line = one_error_line(train_cli("--data", tiny_biwi, *TINY, "--out", out, "--resume", check=False))
    assert "last.pth" in line and "not a readable fastkp checkpoint" in line

    pascal = make_pascal(tmp_path / "pascal", n_images=24, size=(64, 64))
    train_cli("--task", "pascal", "--data", pascal, *TINY, "--epochs", "0", "--freeze-epochs", "1", "--schedule",
              "fine_tune", "--out", out)
    line = one_error_line(train_cli("--data", tiny_biwi, *TINY, "--out", out, "--resume", check=False))
    assert "is a 'pascal' run, not 'biwi'" in line


def test_nan_loss_stops_with_a_message_and_saves(tmp_path, tiny_biwi):
    res = train_cli("--data", tiny_biwi, *TINY, "--lr", "1e30", "--epochs", "2", "--out", tmp_path, check=False)
    assert res.returncode == 3, res.stderr[-2000:]
    line = res.stderr.strip().splitlines()[-1]
    assert "NaN" in line and "nan_stop.pth" in line
    assert load_checkpoint(tmp_path / "nan_stop.pth")["config"].task == "biwi"


def test_lr_find_saves_a_plot_and_suggests_a_rate(tmp_path, tiny_biwi):
    res = train_cli("--data", tiny_biwi, *TINY, "--lr-find", "--out", tmp_path)
    assert "suggested learning rate" in res.stdout
    assert "lr_find: up to 100 steps" in res.stdout and "valley" in res.stdout and "recommended" in res.stdout
    assert (tmp_path / "lr_find.png").stat().st_size > 1000
    assert not (tmp_path / "last.pth").exists()  # the sweep trains nothing for keeps


def test_landmarks_with_local_weights(tmp_path):
    import torchvision

    from fastkp.data.synth import make_landmarks

    root = make_landmarks(tmp_path / "lm", n_images=40, k=5, size=(64, 64))
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    train_cli("--task", "landmarks", "--data", root, *TINY, "--weights", weights, "--epochs", "1",
              "--freeze-epochs", "0", "--out", tmp_path / "run")
    line = metrics_lines(tmp_path / "run")[0]
    assert {"rmse", "rmse_px", "nme", "pck"} <= line.keys() and 0 <= line["pck"] <= 1
    assert load_checkpoint(tmp_path / "run" / "last.pth")["spec"].heads[0].flip_index is not None


def test_weights_of_another_arch_are_refused(tmp_path, tiny_biwi):
    import torchvision

    weights = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), weights)
    line = one_error_line(train_cli("--data", tiny_biwi, *TINY, "--weights", weights, check=False))
    assert "does not fit this body" in line


@pytest.mark.slow
def test_compile_flag_trains(tmp_path, tiny_biwi):
    train_cli("--data", tiny_biwi, *TINY, "--compile", "--epochs", "1", "--freeze-epochs", "0", "--out", tmp_path)
    assert [m["epoch"] for m in metrics_lines(tmp_path)] == [1]


def test_constant_baseline_ignores_unlabelled_points(tmp_path):
    import numpy as np

    from fastkp.data.synth import make_landmarks

    root = make_landmarks(tmp_path / "lm", n_images=60, k=5, size=(64, 80))
    learn = Learner.from_folder("landmarks", root, size=(32, 40), bs=8, out=tmp_path / "run", progress=False)

    def norm(samples):
        return np.stack([s.keypoints / np.array([s.size[1], s.size[0]]) * 2 - 1 for s in samples])

    train, valid = norm(learn.train_samples), norm(learn.valid_samples)
    assert np.isnan(train).any() and np.isnan(valid).any()  # the generator leaves points unlabelled
    mean = np.nanmean(train, axis=0)
    d = (valid - mean) * np.array([40 / 2, 32 / 2])
    expected = np.sqrt(np.nanmean((d**2).sum(-1)))
    assert learn.constant_baseline()["rmse_px"] == pytest.approx(expected, rel=1e-5)


@pytest.fixture(scope="module")
def tiny_pascal(tmp_path_factory) -> Path:
    return make_pascal(tmp_path_factory.mktemp("tiny") / "pascal", n_images=24, size=(64, 64))


def test_config_json_is_written_and_resume_names_each_changed_setting(tmp_path, tiny_biwi):
    args = ["--data", tiny_biwi, *TINY, "--epochs", "0", "--freeze-epochs", "1", "--schedule", "fine_tune",
            "--out", tmp_path]
    res = train_cli(*args, "--loss", "smooth_l1", "--aug", "light", "--max-rotate", "5")
    assert "best rmse_px " in res.stdout and "(constant predictor " in res.stdout and "best.pth" in res.stdout
    assert "rmse_px_image: pixels of the original images" in res.stdout
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert (cfg["task"], cfg["loss"], cfg["monitor"], cfg["bs"], cfg["size"]) == ("biwi", "smooth_l1", "rmse_px", 8,
                                                                                  [32, 32])
    assert (cfg["aug"]["do_flip"], cfg["aug"]["max_rotate"], cfg["aug"]["max_lighting"]) == (True, 5.0, 0.0)
    assert load_checkpoint(tmp_path / "last.pth")["config"].to_dict() == cfg
    line = one_error_line(train_cli(*args, "--loss", "l1", "--aug", "light", "--max-rotate", "5", "--bs", "4",
                                    "--threads", "2", "--resume", check=False))
    assert "loss: 'smooth_l1' there, 'l1' now" in line and "bs: 8 there, 4 now" in line and "threads" not in line


@pytest.mark.parametrize("args, says", [
    (["--monitor", "accuracy"], "--monitor: cannot monitor 'accuracy'"),
    (["--max-warp", "1.5"], "--max-warp: AugConfig.max_warp must be in [0, 1)"),
    (["--bs", "0"], "--bs: bs must be an int >= 1"),
])
def test_bad_settings_name_their_flag(tiny_biwi, tmp_path, args, says):
    line = one_error_line(train_cli("--data", tiny_biwi, *TINY, *args, "--out", tmp_path, check=False))
    assert line.startswith("fastkp.train: error:") and says in line


def test_a_loss_on_a_head_without_choice_is_refused(tiny_pascal, tmp_path):
    res = train_cli("--task", "pascal", "--data", tiny_pascal, *TINY, "--loss", "l1", "--out", tmp_path, check=False)
    assert res.returncode == 2 and "--loss: the multilabel head 'labels' has one loss" in one_error_line(res)


def test_console_scripts_and_a_notebook_backend():
    import sysconfig

    scripts = Path(sysconfig.get_path("scripts"))
    assert all((scripts / name).is_file() for name in ("fastkp-train", "fastkp-export", "fastkp-predict"))
    res = subprocess.run([str(scripts / "fastkp-export"), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "usage: python -m fastkp.export" in res.stdout
    code = ("import matplotlib; matplotlib.use('svg'); import fastkp.learner, fastkp.plots, fastkp.predict; "
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
