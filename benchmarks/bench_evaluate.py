"""``python -m fastkp.evaluate`` against ``python -m fastkp.predict`` on the same images.

Run with ``make bench`` or ``pytest benchmarks/bench_evaluate.py -o python_files="bench_*.py"
--import-mode=prepend --benchmark-only -s``. 96 generated 128x128 landmark images (a
DeepLabCut-sized set), one random 5-point ResNet-18 model exported as TorchScript at
96x96; both commands run in this process, taking turns (three rounds each, median), each
checking and decoding every image itself: predict one image per model call, evaluate in
batches (``fastkp.eval_batches``), then its metrics and files. Goal: evaluate at least as
fast per image as predict (ratio >= 1). ``extra_info`` holds images per second and the ratio.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time

import pytest

from fastkp.checkpoint import ModelSpec, save_checkpoint
from fastkp.data.synth import make_landmarks
from fastkp.evaluate import cli as evaluate_cli
from fastkp.export import export_checkpoint
from fastkp.heads import KeypointHead
from fastkp.model import FastkpModel
from fastkp.predict import cli as predict_cli

N_IMAGES, ROUNDS = 96, 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_evaluate")
    root = make_landmarks(d / "faces", n_images=N_IMAGES, k=5, size=(128, 128))
    heads = [KeypointHead(n_keypoints=5)]
    spec = ModelSpec(task="landmarks", arch="resnet18", size=(96, 96), heads=heads)
    save_checkpoint(d / "m.pth", spec, model=FastkpModel("resnet18", heads, (96, 96)).eval().state_dict())
    export_checkpoint(d / "m.pth", d / "m.pt")
    return d, root


def _run(cli, argv: list[str]) -> float:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli(argv) == 0
    return time.perf_counter() - t0


def test_evaluate_vs_predict(benchmark, setup):
    d, root = setup
    predict = [str(d / "m.pt"), str(root / "images")]
    evaluate = [str(d / "m.pt"), "--data", str(root), "--split", "all", "--out", str(d / "eval"), "--worst", "0"]
    _run(predict_cli, predict), _run(evaluate_cli, evaluate)  # warm-up: model load, first calls
    times = {"predict": [], "evaluate": []}
    for _ in range(ROUNDS):
        times["predict"].append(_run(predict_cli, predict))
        times["evaluate"].append(_run(evaluate_cli, evaluate))
    benchmark.pedantic(_run, args=(evaluate_cli, evaluate), rounds=1)
    rates = {k: N_IMAGES / statistics.median(v) for k, v in times.items()}
    benchmark.extra_info.update({f"{k}_img_s": round(v, 1) for k, v in rates.items()})
    benchmark.extra_info["evaluate_over_predict"] = round(rates["evaluate"] / rates["predict"], 2)
    print("\nevaluate vs predict: " + ", ".join(f"{k}={v}" for k, v in benchmark.extra_info.items()))
