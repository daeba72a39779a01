"""The run folder's lock (issue 24): never written through a symlink; under torchrun every
rank leaves a locked folder with exit status 2 and rank 0's one line."""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys

import pytest

from fastkp import distributed, runfolder
from fastkp.errors import UsageError, run_cli


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / runfolder.LOCK).symlink_to(target)
    with pytest.raises(UsageError) as err, runfolder.RunFolder(out, rank=0):
        pass
    assert str(out / runfolder.LOCK) in str(err.value) and "symbolic link" in str(err.value)
    assert target.read_text() == "keep me\n"


def _hold_lock(out):
    fd = os.open(out / runfolder.LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, b"4242\n", 0)
    return fd


def test_other_ranks_leave_quietly_with_rank_0s_verdict(tmp_path, monkeypatch, capsys):
    """In process (the torchrun test below is slow): rank 1 gets rank 0's refusal from the
    broadcast and leaves with exit status 2, printing nothing."""
    fd = _hold_lock(tmp_path)
    monkeypatch.setattr(distributed, "broadcast_object", lambda obj: f"{tmp_path} is in use (pid 4242)")
    monkeypatch.setattr(distributed, "barrier", lambda: None)

    def main(args):
        with runfolder.RunFolder(tmp_path, rank=1):
            raise AssertionError("rank 1 went on")

    assert run_cli("fastkp.train", main, argparse.Namespace()) == 2
    assert capsys.readouterr().err == ""
    os.close(fd)


@pytest.mark.slow
def test_torchrun_on_a_locked_folder_is_one_line_and_exit_2(tmp_path):
    from fastkp.data.synth import make_biwi

    data = make_biwi(tmp_path / "biwi", persons=3, frames_per_person=4, size=(48, 64))
    out = tmp_path / "ddp"
    out.mkdir()
    fd = _hold_lock(out)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--tee=3",
           "-m", "fastkp.train", "--data", str(data), "--size", "32", "32", "--bs", "4", "--threads", "1",
           "--arch", "resnet18", "--epochs", "1", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    os.close(fd)
    workers = [line for line in res.stderr.splitlines() if line.startswith("[default")]  # --tee: rank prefixes
    assert len(workers) == 1 and "pid 4242" in workers[0], res.stderr[-3000:]  # torchrun's own report aside
    assert res.stderr.count("exitcode  : 2") == 2, res.stderr[-3000:]
