"""The verify pass against one DALI decode: 1,000 640x480 JPEGs (PIL, quality 90).

Run with ``make bench`` or
``pytest benchmarks/bench_verify.py -o python_files="bench_*.py" --benchmark-only -s``.
``fastkp._verify.verify_images`` with 2 threads (libjpeg-turbo's entropy decoding,
no IDCT) and a CPU DALI pipeline that decodes the same files (2 threads, batches of
64 fed by ``fn.external_source`` as the DALI loader feeds them) take turns in one run
(``conftest.timed``); both read the files themselves. Goal: verify no slower than
the decode. ``extra_info`` holds images per second and the ratio.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import timed

from fastkp._verify import verify_images
from fastkp.data import load_biwi
from fastkp.data.synth import make_biwi

BATCH, THREADS = 64, 2


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> list[str]:
    """1,000 Biwi-like 640x480 frames, written by PIL at quality 90."""
    root = make_biwi(tmp_path_factory.mktemp("bench") / "biwi", persons=2, frames_per_person=500)
    d = load_biwi(root)
    train, valid = d.train, d.valid
    return [s.path for s in train + valid]


def dali_decode(paths: list[str]):
    """A function decoding all ``paths`` once with a built CPU DALI pipeline."""
    from nvidia.dali import fn, pipeline_def

    batches = [paths[i:i + BATCH] for i in range(0, len(paths), BATCH)]  # the last one shorter
    state = {"next": 0}

    def source():
        batch = batches[state["next"] % len(batches)]
        state["next"] += 1
        return [np.fromfile(p, dtype=np.uint8) for p in batch]

    @pipeline_def(batch_size=BATCH, num_threads=THREADS, device_id=None, exec_dynamic=True, prefetch_queue_depth=2)
    def pipeline():
        return fn.decoders.image(fn.external_source(source=source, batch=True), device="cpu")

    pipe = pipeline()
    pipe.build()

    def run() -> None:
        for _ in batches:
            pipe.run()

    return run


def test_verify_vs_dali_decode(benchmark, paths):
    assert len(paths) == 1000
    assert verify_images(paths, THREADS) == [None] * len(paths)
    verify = lambda: verify_images(paths, THREADS)  # noqa: E731
    times = timed({"verify": verify, "dali_decode": dali_decode(paths)}, min_time=3.0, block_time=0.0,
                  min_blocks=5)
    benchmark.pedantic(verify, rounds=3, iterations=1)
    rate = {name: len(paths) / secs for name, secs in times.items()}
    ratio = rate["verify"] / rate["dali_decode"]
    benchmark.extra_info.update(images=len(paths), threads=THREADS, batch=BATCH,
                                **{f"{k}_img_per_s": round(v) for k, v in rate.items()},
                                verify_over_dali_decode=round(ratio, 2))
    print(f"\nverify {rate['verify']:.0f} img/s, DALI decode {rate['dali_decode']:.0f} img/s "
          f"({THREADS} threads, 640x480): verify = {ratio:.2f}x the decode")
    assert ratio >= 1.0, "the verify pass is slower than one DALI decode of the same files"
