"""Input pipeline speed: 640x480 JPEGs to (240, 320) training batches of 64, default augmentation.

Run with ``make bench`` or
``pytest benchmarks/bench_pipeline.py -o python_files="bench_*.py" --benchmark-only -s``.
In one run, on the same generated Biwi frames: (a) decode only, DALI (the
ceiling of the DALI loader) and PIL (one process); (b) the DALI loader; (c) the
reference DataLoader with 2 worker processes. Each is measured in two
interleaved passes and the faster pass counts, which damps the noise of a
shared machine; ``extra_info`` holds images per second, the ratios and the
load average. The benchmark's own time is that of one pass over all four.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image

from fastkp.data import load_biwi
from fastkp.data.synth import make_biwi
from fastkp.pipeline import build_loader, reference

PERSONS, FRAMES = 2, 160  # 320 frames of 640x480
BATCH, THREADS, EPOCHS = 64, 2, 2


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = make_biwi(tmp_path_factory.mktemp("bench") / "biwi", persons=PERSONS,
                     frames_per_person=FRAMES)
    d = load_biwi(root)
    return d.train + d.valid


def _rate(run) -> float:
    """Images per second of ``run()``, which returns how many images it produced."""
    start = time.perf_counter()
    n = run()
    return n / (time.perf_counter() - start)


def _epochs(loader) -> int:
    return sum(len(batch["index"]) for _ in range(EPOCHS) for batch in loader)


def _dali_decoder(paths: list[str]):
    """A DALI pipeline that reads and decodes, nothing else, fed like the loader."""
    from nvidia.dali import fn, pipeline_def

    batches = [paths[i : i + BATCH] for i in range(0, len(paths) - BATCH + 1, BATCH)]
    state = {"next": 0}

    def source():
        batch = batches[state["next"] % len(batches)]
        state["next"] += 1
        return [np.fromfile(p, dtype=np.uint8) for p in batch]

    @pipeline_def(batch_size=BATCH, num_threads=THREADS, device_id=None, exec_dynamic=True,
                  prefetch_queue_depth=2)
    def pipeline():
        return fn.decoders.image(fn.external_source(source=source, batch=True), device="cpu")

    pipe = pipeline()
    pipe.build()
    pipe.run()

    def run() -> int:
        steps = EPOCHS * len(batches)
        for _ in range(steps):
            pipe.run()
        return steps * BATCH

    return run


def _pil_decode(paths: list[str]) -> int:
    for path in paths:
        with Image.open(path) as im:
            im.convert("RGB").load()
    return len(paths)


def test_pipeline_throughput(benchmark, frames):
    paths = [s.path for s in frames]
    dali = build_loader(frames, batch_size=BATCH, num_threads=THREADS)
    ref = reference.build_loader(frames, batch_size=BATCH, num_threads=THREADS)
    runs = {
        "dali_decode": _dali_decoder(paths),
        "pil_decode": lambda: _pil_decode(paths[:128]),
        "dali_loader": lambda: _epochs(dali),
        "reference_loader": lambda: _epochs(ref),
    }
    for loader in (dali, ref):  # warm up: pipeline build, worker start
        next(iter(loader))
    load_before = os.getloadavg()[0]
    rates: dict[str, list[float]] = {name: [] for name in runs}

    def one_pass():
        for name, run in runs.items():
            rates[name].append(_rate(run))

    benchmark.pedantic(one_pass, rounds=2, iterations=1)
    best = {k: max(v) for k, v in rates.items()}
    speedup = best["dali_loader"] / best["reference_loader"]
    share = best["dali_loader"] / best["dali_decode"]
    benchmark.extra_info.update(
        images_per_loader_pass=len(paths) // BATCH * BATCH * EPOCHS,
        batch_size=BATCH,
        threads=THREADS,
        **{f"{k}_img_per_s": round(v) for k, v in best.items()},
        **{f"{k}_img_per_s_passes": [round(r) for r in v] for k, v in rates.items()},
        dali_loader_over_reference=round(speedup, 2),
        dali_loader_share_of_dali_decode=round(share, 2),
        load_average_1min=[round(load_before, 2), round(os.getloadavg()[0], 2)],
    )
    print("\n" + ", ".join(f"{k} {v:.0f} img/s" for k, v in best.items())
          + f"; DALI loader = {speedup:.1f}x reference, {share:.0%} of DALI decode-only")
