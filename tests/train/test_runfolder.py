"""The run folder under faults: resume after any epoch is exact, best/last stay consistent,
stale temporaries go, one run per folder, a full disk, SIGTERM, bad command-line values."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fastkp import runfolder
from fastkp.checkpoint import load_checkpoint
from fastkp.data.synth import make_biwi
from fastkp.errors import CheckpointError, UsageError
from fastkp.learner import Learner

SETTINGS = {"size": 32, "bs": 8, "threads": 1, "progress": False, "seed": 5, "monitor": "train_loss", "head": "fastai",
            "schedule": "fine_tune"}  # the settings of the fine_tune runs below (fastai augmentation)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_biwi(tmp_path_factory.mktemp("rf") / "biwi", persons=3, frames_per_person=16, size=(64, 80))


def run(data: Path, out: Path, resume: bool = False) -> Learner:
    learn = Learner.from_folder("biwi", data, out=out, **SETTINGS)
    learn.fine_tune(2, 2e-3, freeze_epochs=2, resume=resume)  # two phases, four epochs
    return learn


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


@pytest.fixture(scope="module")
def whole(data, tmp_path_factory) -> tuple[Path, dict[int, Path]]:
    """An uninterrupted run, and a copy of last.pth after each of its epochs."""
    out = tmp_path_factory.mktemp("whole")
    copies: dict[int, Path] = {}
    write = runfolder.write_checkpoint

    def keep(path, payload, also):
        write(path, payload, also)
        if Path(path).name == "last.pth":
            copies[payload["epoch"]] = shutil.copy(path, out.parent / f"last-{out.name}-{payload['epoch']}.pth")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runfolder, "write_checkpoint", keep)
        run(data, out)
    return out, copies


def same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa), [k for k in wa if not torch.equal(wa[k], wb[k])][:3]


@pytest.mark.parametrize("after", [1, 2, 3])
def test_resume_after_any_epoch_is_bit_identical(data, whole, tmp_path, after):
    out, copies = whole
    shutil.copy(copies[after], tmp_path / "last.pth")
    learn = run(data, tmp_path, resume=True)
    assert [h["epoch"] for h in learn.history] == [1, 2, 3, 4]
    same_weights(tmp_path / "last.pth", out / "last.pth")
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 4


def test_a_failed_last_save_keeps_best_and_last_consistent(data, whole, tmp_path, monkeypatch):
    """Killed (here: a failing rename) after best.pth of a later epoch was published, before
    last.pth."""
    out, _ = whole
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "last.pth" and (tmp_path / "last.pth").exists() and \
                load_checkpoint(tmp_path / "best.pth")["epoch"] > load_checkpoint(tmp_path / "last.pth")["epoch"]:
            raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr("fastkp.atomic.os.replace", replace)
    with pytest.raises(CheckpointError, match="input/output error writing"):
        run(data, tmp_path)
    last, best = load_checkpoint(tmp_path / "last.pth")["epoch"], load_checkpoint(tmp_path / "best.pth")["epoch"]
    assert best == last + 1
    monkeypatch.undo()
    run(data, tmp_path, resume=True)
    same_weights(tmp_path / "last.pth", out / "last.pth")
    assert load_checkpoint(tmp_path / "best.pth")["best"] == load_checkpoint(tmp_path / "last.pth")["best"]


def test_disk_full_is_one_line_and_the_last_checkpoint_survives(data, whole, tmp_path, monkeypatch):
    shutil.copy(whole[1][3], tmp_path / "last.pth")
    before = (tmp_path / "last.pth").read_bytes()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def fdopen(fd, mode):  # checkpoints hit the full disk; config.json still fits
        name = os.readlink(f"/proc/self/fd/{fd}")
        return Full(real_fdopen(fd, mode)) if ".last.pth." in name else real_fdopen(fd, mode)

    monkeypatch.setattr("fastkp.atomic.os.fdopen", fdopen)
    with pytest.raises(CheckpointError) as err:
        run(data, tmp_path, resume=True)
    assert str(err.value) == f"no space left on device writing {tmp_path / 'last.pth'}"
    assert (tmp_path / "last.pth").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_finished_run_resumed_makes_the_missing_plots(data, whole, tmp_path):
    out, copies = whole
    shutil.copy(copies[4], tmp_path / "last.pth")
    (tmp_path / ".last.pth.abc.tmp").write_bytes(b"half a checkpoint")  # a save killed midway
    run(data, tmp_path, resume=True)
    for png in ("show_batch.png", "show_results.png", "losses.png"):
        assert (tmp_path / png).exists(), png
    assert not (tmp_path / ".last.pth.abc.tmp").exists()


def test_one_run_per_folder(data, tmp_path):
    fd = os.open(tmp_path / runfolder.LOCK, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(UsageError, match=r"in use by another run \(pid 4242\)"):
            run(data, tmp_path)
        assert not (tmp_path / "last.pth").exists()
    finally:
        os.close(fd)
    with pytest.raises(UsageError, match="is a file"):
        run(data, tmp_path / runfolder.LOCK)


def test_sigterm_stops_like_ctrl_c_and_resume_continues(data, tmp_path):
    args = [sys.executable, "-m", "fastkp.train", "--data", str(data), "--size", "32", "--bs", "8", "--threads",
            "1", "--epochs", "2", "--freeze-epochs", "1", "--schedule", "fine_tune", "--out", str(tmp_path)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (tmp_path / "last.pth").exists():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    assert proc.stderr.read().strip().splitlines()[-1].startswith("fastkp.train: interrupted")
    res = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert load_checkpoint(tmp_path / "last.pth")["epoch"] == 3


@pytest.mark.parametrize("args, says", [
    (["--epochs", "0", "--freeze-epochs", "0"], "nothing to train"),
    (["--seed", str(2**64)], "--seed: seed must be below 2**63"),
    (["--seed", "-1"], "--seed: seed must be an int >= 0"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--threads", "0"], "--threads: threads must be a positive int"),
    (["--out", "{file}"], "is a file"),
    (["--out", "{file}/run"], "a part of the path is a file"),
    (["--weights", "{file}"], "not a readable torch state dict"),
])
def test_bad_values_are_one_line_exit_2(data, tmp_path, args, says):
    (tmp_path / "f").write_text("not a folder, not weights")
    args = [a.format(file=tmp_path / "f") for a in args]
    res = subprocess.run([sys.executable, "-m", "fastkp.train", "--data", str(data), "--size", "32", "--bs", "8",
                          "--threads", "1", "--out", str(tmp_path / "run"), *args], capture_output=True, text=True,
                         timeout=300)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and says in lines[0], res.stderr


def test_saves_in_the_background_hold_the_state_of_their_epoch(tmp_path, monkeypatch):
    """The next epoch may change the weights while a save is written; leaving the folder
    by an error (here Ctrl-C) still waits for that save and keeps it whole."""
    from fastkp.checkpoint import ModelSpec
    from fastkp.heads import KeypointHead

    started, write = [], runfolder.write_checkpoint

    def slow(path, payload, also):
        started.append(path)
        time.sleep(0.5)
        write(path, payload, also)

    monkeypatch.setattr(runfolder, "write_checkpoint", slow)
    spec = ModelSpec(task="biwi", arch="resnet18", size=(32, 32), heads=[KeypointHead(n_keypoints=1)])
    weights = torch.zeros(3)
    with pytest.raises(KeyboardInterrupt), runfolder.RunFolder(tmp_path, rank=0) as folder:
        folder.save_epoch(spec, None, {"model": {"w": weights}, "epoch": 1}, improved=True)
        weights += 1  # the next epoch's first step
        raise KeyboardInterrupt
    assert started == [tmp_path / "last.pth"]
    for name in ("last.pth", "best.pth"):
        saved = load_checkpoint(tmp_path / name)
        assert saved["epoch"] == 1 and torch.equal(saved["model"]["w"], torch.zeros(3))
