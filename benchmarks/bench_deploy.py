"""Deployment speed: one ResNet-18 keypoint model (Biwi size: 240x320 network input,
640x480 camera frames in) run as Python eager, TorchScript and AOTInductor pt2 packages
(each frozen and not), ONNX in onnxruntime, and the C++ program fastkp-infer on the frozen
exports (the default of ``python -m fastkp.export``); one image and batches of 32.
Threads: torch's default, or ``FASTKP_BENCH_THREADS``, for every engine (onnxruntime
takes its own default, all cores).

Run with ``make bench`` (or ``pytest benchmarks/bench_deploy.py -o python_files="bench_*.py"
--benchmark-only -s``). Speed-ups are paired: before each timed round of an engine, its
reference engines run once (eager always; both TorchScript variants for AOTInductor),
untimed by pytest-benchmark but timed here, so a busy machine slows both sides alike.
``extra_info``: ``median_ms`` and ``images_per_s`` of the engine, ``<ref>_ms`` and
``speedup_vs_<ref>`` (reference median / engine median: above 1 means the engine is
faster). fastkp-infer times its own forward passes with ``--bench N`` (decoding, model
loading and process start excluded); pytest-benchmark's own figure for those rows is the
whole process, so only ``extra_info`` holds comparable numbers there.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from fastkp.checkpoint import ModelSpec, save_checkpoint
from fastkp.heads import KeypointHead
from fastkp.export import deploy_module, export_checkpoint, load
from fastkp.model import FastkpModel

INFER = Path(sysconfig.get_path("scripts")) / "fastkp-infer"
FRAME = (480, 640)
NET = (240, 320)
ROUNDS = {1: 10, 32: 3}
CPP_RUNS = {1: 10, 32: 2}  # timed passes inside one fastkp-infer --bench process
REFERENCES = {"aoti": ["eager", "torchscript", "torchscript_frozen"],
              "aoti_frozen": ["eager", "torchscript", "torchscript_frozen"]}
ENGINES = ["torchscript", "torchscript_frozen", "aoti", "aoti_frozen", "onnxruntime", "cpp_torchscript_frozen",
           "cpp_aoti_frozen"]

if "FASTKP_BENCH_THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["FASTKP_BENCH_THREADS"]))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The exported files (engine name -> path) and a camera frame as a tensor and a PPM file."""
    d = tmp_path_factory.mktemp("deploy")
    torch.manual_seed(0)
    heads = [KeypointHead(n_keypoints=1)]
    model = FastkpModel("resnet18", heads).eval()
    save_checkpoint(d / "best.pth", ModelSpec(task="biwi", arch="resnet18", size=NET, heads=heads),
                    model=model.state_dict())
    files = {"checkpoint": d / "best.pth"}
    for fmt, suffix in (("torchscript", ".pt"), ("aoti", ".pt2")):
        for frozen in (False, True):
            name = fmt + "_frozen" * frozen
            files[name] = d / f"{name}{suffix}"
            export_checkpoint(files["checkpoint"], files[name], "pt2" if fmt == "aoti" else "torchscript", frozen)
    files["onnxruntime"] = d / "model.onnx"
    export_checkpoint(files["checkpoint"], files["onnxruntime"], "onnx")
    pixels = np.random.default_rng(0).integers(0, 256, (*FRAME, 3), dtype=np.uint8)
    ppm = d / "frame.ppm"
    ppm.write_bytes(f"P6\n{FRAME[1]} {FRAME[0]}\n255\n".encode() + pixels.tobytes())
    return files, torch.from_numpy(pixels), ppm


@pytest.fixture(scope="module")
def python_engines(artifacts) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    files = artifacts[0]
    module = deploy_module(files["checkpoint"])[0]

    def eager(images):
        with torch.inference_mode():
            return module(images)

    engines = {"eager": eager, **{n: load(files[n]) for n in ENGINES if not n.startswith("cpp_")}}
    images = artifacts[1][None]
    for run in engines.values():  # warm-up: TorchScript optimises during its first runs
        for _ in range(3):
            run(images)
    return engines


def seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cpp_bench(files, engine: str, ppm: Path, batch: int) -> float:
    """Median seconds of one forward pass, as fastkp-infer --bench measures it."""
    cmd = [str(INFER), str(files[engine.removeprefix("cpp_")]), *[str(ppm)] * batch,
           "--bench", str(CPP_RUNS[batch]), "--threads", str(torch.get_num_threads())]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["bench"]["median_ms"] / 1e3


@pytest.mark.parametrize("batch", [1, 32])
@pytest.mark.parametrize("engine", ["eager", *ENGINES])
def test_deploy(benchmark, artifacts, python_engines, engine, batch):
    files, frame, ppm = artifacts
    images = frame[None].expand(batch, *FRAME, 3).contiguous()
    refs = REFERENCES.get(engine, [] if engine == "eager" else ["eager"])
    ref_times: dict[str, list[float]] = {r: [] for r in refs}

    def run_references():
        for r in refs:
            runs = CPP_RUNS[batch] if engine.startswith("cpp_") else 1
            ref_times[r].append(statistics.median(seconds(lambda: python_engines[r](images)) for _ in range(runs)))

    if engine.startswith("cpp_"):
        cpp_times: list[float] = []
        benchmark.pedantic(lambda: cpp_times.append(cpp_bench(files, engine, ppm, batch)),
                           setup=run_references, rounds=ROUNDS[32], iterations=1)
        engine_times = cpp_times
    else:
        benchmark.pedantic(python_engines[engine], args=(images,), setup=run_references,
                           rounds=ROUNDS[batch], iterations=1)
        engine_times = list(benchmark.stats.stats.data)
    median = statistics.median(engine_times)
    info = {"batch": batch, "threads": torch.get_num_threads(), "median_ms": round(median * 1e3, 2),
            "images_per_s": round(batch / median, 2)}
    for r, times in ref_times.items():
        info[f"{r}_ms"] = round(statistics.median(times) * 1e3, 2)
        info[f"speedup_vs_{r}"] = round(statistics.median(times) / median, 3)
    benchmark.extra_info.update(info)
    print(f"\n{engine} batch {batch}: " + ", ".join(f"{k}={v}" for k, v in info.items()))
