"""Fused operators against PyTorch: eager composite / PyTorch's own loss and
``torch.compile`` of the same expression, forward and forward+backward, from
one batch of outputs to 16M elements.

Run with ``make bench`` (or ``pytest benchmarks/bench_ops.py -o python_files="bench_*.py"
--benchmark-only -s``). pytest-benchmark times the fused operator; every
baseline is timed in the same test, on the same tensors, and ``extra_info``
holds the ratios (baseline time / fused time: above 1 means fused is faster),
achieved GB/s, and the machine's copy bandwidth for the same bytes (a
``copy_`` into a preallocated tensor; a fresh ``clone()`` mostly measures page
faults). The ``out=`` variant shows the kernel's own speed apart from
allocating the result.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
import torch.nn.functional as F

import fastkp.ops as ops

SIZES = {"64x2": (64, 2), "64x20": (64, 20), "1M": (1 << 20,), "16M": (1 << 24,)}
COMPILED_SIZES = {"64x20", "16M"}  # inductor compiles take minutes on 2 cores; two sizes suffice


def timed(fn, min_time=0.5, min_rounds=5) -> float:
    """Median seconds per call of ``fn`` (after one warm-up call)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_rounds or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(benchmark, label: str, nbytes: int, baselines: dict[str, float]) -> None:
    fused = benchmark.stats.stats.median
    info = {"fused_ms": round(fused * 1e3, 4), "fused_GBps": round(nbytes / fused / 1e9, 2)}
    for name, secs in baselines.items():
        info[f"{name}_ms"] = round(secs * 1e3, 4)
        info[f"speedup_vs_{name}"] = round(secs / fused, 2)
    benchmark.extra_info.update(info)
    print(f"\n{label}: " + ", ".join(f"{k}={v}" for k, v in info.items()))


def copy_time(n: int) -> float:
    src, dst = torch.randn(n), torch.empty(n)
    return timed(lambda: dst.copy_(src))


def composite_sigmoid_range(x, lo: float, hi: float):
    return torch.sigmoid(x) * (hi - lo) + lo


@pytest.mark.parametrize("size", list(SIZES))
def test_sigmoid_range_forward(benchmark, size):
    torch.manual_seed(0)
    x = torch.randn(SIZES[size])
    out = torch.empty_like(x)
    baselines = {
        "eager": timed(lambda: composite_sigmoid_range(x, -1.0, 1.0)),
        "fused_out": timed(lambda: torch.ops.fastkp.sigmoid_range.out(x, -1.0, 1.0, out=out)),
        "copy": copy_time(x.numel()),
    }
    if size in COMPILED_SIZES:
        compiled = torch.compile(composite_sigmoid_range, dynamic=False)
        baselines["compile"] = timed(lambda: compiled(x, -1.0, 1.0))
    benchmark(ops.sigmoid_range, x, -1.0, 1.0)
    report(benchmark, f"sigmoid_range fwd {size}", 2 * x.nbytes, baselines)


def fwd_bwd(fn):
    def run(x, *args):
        x.grad = None
        y = fn(x, *args)
        y.backward(torch.ones_like(y))
        return x.grad

    return run


@pytest.mark.parametrize("size", list(SIZES))
def test_sigmoid_range_forward_backward(benchmark, size):
    torch.manual_seed(0)
    x = torch.randn(SIZES[size], requires_grad=True)
    baselines = {"eager": timed(lambda: fwd_bwd(composite_sigmoid_range)(x, -1.0, 1.0))}
    if size in COMPILED_SIZES:
        compiled = torch.compile(composite_sigmoid_range, dynamic=False)
        baselines["compile"] = timed(lambda: fwd_bwd(compiled)(x, -1.0, 1.0))
    benchmark(fwd_bwd(ops.sigmoid_range), x, -1.0, 1.0)
    # forward reads x, writes y; backward reads grad and x, writes grad_x
    report(benchmark, f"sigmoid_range fwd+bwd {size}", 5 * x.nbytes, baselines)


def torch_bce(x, t):
    return F.binary_cross_entropy_with_logits(x, t)


@pytest.mark.parametrize("size", list(SIZES))
def test_bce_forward(benchmark, size):
    torch.manual_seed(0)
    x, t = torch.randn(SIZES[size]) * 3, (torch.rand(SIZES[size]) > 0.5).float()
    out = torch.empty_like(x)
    baselines = {
        "torch": timed(lambda: torch_bce(x, t)),
        "fused_none_out": timed(lambda: torch.ops.fastkp.bce_with_logits.out(x, t, None, None, 0, out=out)),
    }
    if size in COMPILED_SIZES:
        compiled = torch.compile(torch_bce, dynamic=False)
        baselines["compile"] = timed(lambda: compiled(x, t))
    benchmark(ops.bce_with_logits, x, t)
    report(benchmark, f"bce_with_logits fwd (mean) {size}", 2 * x.nbytes, baselines)


@pytest.mark.parametrize("size", list(SIZES))
def test_bce_forward_backward(benchmark, size):
    torch.manual_seed(0)
    x = (torch.randn(SIZES[size]) * 3).requires_grad_()
    t = (torch.rand(SIZES[size]) > 0.5).float()
    baselines = {"torch": timed(lambda: fwd_bwd(torch_bce)(x, t))}
    if size in COMPILED_SIZES:
        compiled = torch.compile(torch_bce, dynamic=False)
        baselines["compile"] = timed(lambda: fwd_bwd(compiled)(x, t))
    benchmark(fwd_bwd(ops.bce_with_logits), x, t)
    # forward reads x, t; backward reads x, t and writes grad_x
    report(benchmark, f"bce_with_logits fwd+bwd (mean) {size}", 5 * x.nbytes, baselines)
