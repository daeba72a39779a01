"""Training throughput (images/s) on this CPU, all in one run:

(a) fp32, NCHW; (b) channels_last + bf16 autocast (``--amp``); (c) the same as
(b) but fed one batch already in memory, the limit the loader must not hold
back. At the book's (240, 320) resnet18 and at the demo settings, from
640x480 JPEGs through the DALI loader with the default augmentation.
Targets at (240, 320): (b) >= 2.2x (a), and (b) >= 90% of (c).

Run with ``make bench`` (or ``pytest benchmarks/bench_train.py -o python_files="bench_*.py"
--benchmark-only -s``); the ratios are in ``extra_info``.
"""

from __future__ import annotations

import itertools
import time

import pytest

from fastkp.data.synth import make_biwi
from fastkp.learner import Learner
from fastkp.tasks import TASKS

SETTINGS = {"book_240x320": ((240, 320), 16, 8), "demo": (TASKS["biwi"].demo.size, TASKS["biwi"].demo.bs, 12)}


@pytest.fixture(scope="module")
def biwi(tmp_path_factory):
    return make_biwi(tmp_path_factory.mktemp("bench") / "biwi", persons=3, frames_per_person=70)


def steps(learn: Learner, batches, n: int) -> int:
    """n training steps; returns the images seen."""
    net = learn.training_net()
    net.train()
    seen = 0
    for batch in itertools.islice(batches, n):
        learn.train_step(net, batch)
        seen += batch["images"].shape[0]
    return seen


def images_per_s(learn: Learner, batches, n: int) -> float:
    """Steps over n batches after one warm-up step."""
    batches = iter(batches)
    steps(learn, batches, 1)
    t0 = time.perf_counter()
    seen = steps(learn, batches, n)
    return seen / (time.perf_counter() - t0)


def loader_batches(learn: Learner):
    for epoch in itertools.count():
        learn.train_dl.set_epoch(epoch)
        yield from learn.train_dl


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_training_throughput(benchmark, biwi, tmp_path, setting):
    size, bs, n = SETTINGS[setting]
    rates = {}

    def learner(amp: bool, channels_last: bool) -> Learner:
        learn = Learner("biwi", biwi, size=size, bs=bs, amp=amp, channels_last=channels_last,
                        out=tmp_path / "run", progress=False)
        learn.unfreeze()
        return learn

    fp32 = learner(amp=False, channels_last=False)
    rates["a_fp32_nchw"] = images_per_s(fp32, loader_batches(fp32), n)
    fast = learner(amp=True, channels_last=True)
    batches = loader_batches(fast)
    steps(fast, batches, 1)  # warm-up
    seen = benchmark.pedantic(steps, args=(fast, batches, n), rounds=2)
    rates["b_bf16_channels_last"] = seen / benchmark.stats.stats.median
    one = next(iter(fast.train_dl))
    rates["c_bf16_channels_last_in_memory"] = images_per_s(fast, itertools.repeat(one), n)

    benchmark.extra_info.update({k: round(v, 2) for k, v in rates.items()})
    benchmark.extra_info["b_over_a"] = round(rates["b_bf16_channels_last"] / rates["a_fp32_nchw"], 2)
    benchmark.extra_info["b_over_c"] = round(rates["b_bf16_channels_last"] / rates["c_bf16_channels_last_in_memory"], 3)
    print(f"\ntraining {setting} {size} bs {bs}: " + ", ".join(f"{k}={v}" for k, v in benchmark.extra_info.items()))
