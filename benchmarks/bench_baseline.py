"""fastkp against the plain PyTorch script (benchmarks/plain_baseline.py) on the same data:
a generated Biwi-format set (300 training frames of two persons, 150 validation frames of
person 13, 240x320 JPEGs), 15 epochs at a 96x128 input, batch 16, each command as a user
runs it (``python -m fastkp.train --data D --epochs 15 --size 96 128 --bs 16 --amp``: the
default recipe for a random body). Reported in ``extra_info``: each one's best validation
``rmse_px`` and its ratio to the constant predictor's, training images per second of wall
time (the whole command: start-up, validation and plots included), and the ratios
fastkp / script (``rmse_ratio`` below 1 and ``speed_ratio`` above 1 favour fastkp).

    pytest benchmarks/bench_baseline.py -o python_files="bench_*.py" --benchmark-only -s
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastkp.data.synth import make_biwi

EPOCHS, TRAIN_IMAGES = 15, 300
SCRIPT = Path(__file__).with_name("plain_baseline.py")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_biwi(tmp_path_factory.mktemp("base") / "biwi", persons=3, frames_per_person=150, size=(240, 320))


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return time.perf_counter() - t0, proc.stdout


def test_fastkp_against_the_plain_script(benchmark, data, tmp_path):
    out = tmp_path / "fastkp"
    runs = {}

    def both():
        runs["script"] = timed([sys.executable, str(SCRIPT), str(data), "--epochs", str(EPOCHS), "--size", "96", "128"])
        runs["fastkp"] = timed([sys.executable, "-m", "fastkp.train", "--data", str(data), "--epochs", str(EPOCHS),
                                "--size", "96", "128", "--bs", "16", "--amp", "--out", str(out)])

    benchmark.pedantic(both, rounds=1, iterations=1)
    script_best = json.loads(runs["script"][1].strip().splitlines()[-1])["best_rmse_px"]
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    fastkp_best = min(h["rmse_px"] for h in history)
    constant = float(next(line for line in runs["fastkp"][1].splitlines() if line.startswith("constant predictor"))
                     .split("rmse_px ")[1].split(",")[0])
    speed = {k: EPOCHS * TRAIN_IMAGES / seconds for k, (seconds, _) in runs.items()}
    info = {"fastkp_rmse_px": round(fastkp_best, 2), "script_rmse_px": round(script_best, 2),
            "constant_rmse_px": constant, "fastkp_vs_constant": round(fastkp_best / constant, 3),
            "script_vs_constant": round(script_best / constant, 3), "rmse_ratio": round(fastkp_best / script_best, 3),
            "fastkp_images_per_s": round(speed["fastkp"], 1), "script_images_per_s": round(speed["script"], 1),
            "speed_ratio": round(speed["fastkp"] / speed["script"], 3)}
    benchmark.extra_info.update(info)
    print("\n" + ", ".join(f"{k}={v}" for k, v in info.items()))
