"""The README, run as written: every block fenced as ```` ```sh test ```` or
```` ```python test ```` is extracted and run in order, after ``source
.venv/bin/activate``, in a scratch folder whose ``HOME`` holds synthetic stand-ins
for ``~/data/...`` and whose demo cache holds a small demo set. Training is cut
short: ``--epochs 1 --freeze-epochs 0 --size 32 --bs 8`` is appended to each
``fastkp.train`` command, and the Python blocks run with the same settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fastkp.data.synth import make_biwi, make_landmarks, make_pascal
from fastkp.data.synth.w300 import make_300w
from fastkp.tasks import TASKS, demo_root

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```(sh|python) test\n(.*?)^```", re.M | re.S)
SHORT = "--epochs 1 --freeze-epochs 0 --size 32 --bs 8"
# Python blocks: the same short training, set before the block runs
PRELUDE = """
import fastkp.learner as _learner
_init, _fine_tune, _lr_find = _learner.Learner.__init__, _learner.Learner.fine_tune, _learner.Learner.lr_find
_learner.Learner.__init__ = lambda self, *a, **k: _init(self, *a, **{**k, "size": 32, "bs": 8})
_learner.Learner.fine_tune = lambda self, epochs, lr=2e-3, **k: _fine_tune(self, 1, lr, freeze_epochs=0)
_learner.Learner.lr_find = lambda self, **k: _lr_find(self, num_it=30)
"""


def readme_blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((REPO / "README.md").read_text())


def shortened(block: str) -> str:
    """Each training command gets SHORT before its comment."""
    lines = []
    for line in block.splitlines():
        if "fastkp.train" in line:
            command, hash_, comment = line.partition("  #")
            line = f"{command.rstrip()} {SHORT}" + (f"  {hash_}{comment}" if hash_ else "")
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("readme")
    home, work, cache = root / "home", root / "work", root / "cache"
    make_biwi(home / "data" / "biwi_head_pose", persons=3, frames_per_person=12, size=(96, 128))
    make_pascal(home / "data" / "pascal_2007", n_images=40, size=(64, 64))
    make_landmarks(home / "data" / "faces", n_images=40, k=5, size=(64, 64))
    make_300w(home / "data" / "300w", 24, size=(64, 64))
    env = {**os.environ, "HOME": str(home), "FASTKP_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    demo = cache / demo_root(TASKS["biwi"]).name
    make_biwi(demo, persons=3, frames_per_person=12, size=(96, 128))
    (demo / ".complete").touch()
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.executable).parents[1])
    (work / "examples").symlink_to(REPO / "examples")
    return work, env


def test_readme_has_runnable_blocks():
    kinds = [kind for kind, _ in readme_blocks()]
    assert kinds.count("sh") >= 3 and "python" in kinds


def test_readme_runs_as_written(scratch):
    work, env = scratch
    for i, (kind, block) in enumerate(readme_blocks()):
        if kind == "sh":
            cmd = ["bash", "-e", "-o", "pipefail", "-c", "source .venv/bin/activate\n" + shortened(block)]
        else:
            cmd = [str(work / ".venv" / "bin" / "python"), "-c", PRELUDE + block]
        res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"README block {i + 1} ({kind}):\n{block}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    for made in ("runs/fastkp/best.pth", "runs/fastkp/lr_find.png", "runs/notebook/models/stage1.pth",
                 "runs/notebook/again.pt", "model.pt", "preds.png", "build/consumer/describe_model",
                 "runs/300w/best.pth", "face68.pt", "eval/ced.png", "eval-export/worst.png"):
        assert (work / made).exists(), made
    flip, export = (json.loads((work / d / "metrics.json").read_text())["metrics"] for d in ("eval-flip", "eval-export"))
    assert flip == pytest.approx(export, abs=1e-4)  # a checkpoint and its export score alike
