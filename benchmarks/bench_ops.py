"""Fused operators against PyTorch: the eager composite (``sigmoid(x) * (hi - lo) + lo``)
or PyTorch's own ``F.binary_cross_entropy_with_logits``, and ``torch.compile`` of the
same, forward and forward+backward, at the sizes of a training step (B x 2K keypoint
coordinates with K = 1, B x 20 labels, B = 64 and 256) and at 16M elements.
``soft_argmax`` against its eager composite (``fastkp.ops.soft_argmax_composite``:
softmax, two weighted sums, amax) at the heatmap head's training sizes (B x K x H x W:
64 x 17 x 24 x 32, 16 x 68 x 16 x 16, 64 x 4 x 48 x 64; beta 4, backward from a random
coordinate gradient), NCHW and channels-last, by wall clock and, with one thread, by CPU
time (``test_soft_argmax_forward_backward_cpu_time``: on a shared machine the figure
that other jobs do not move).

Run with ``make bench`` (or ``pytest benchmarks/bench_ops.py -o python_files="bench_*.py"
--import-mode=prepend --benchmark-only -s [--device cuda]``). Every time, fused and baselines alike, comes
from the shared timer (``conftest.timed``: blocks of calls taking turns, CUDA
synchronised around each block) in the same test on the same tensors;
``extra_info`` holds the medians (ms), the ratios (``speedup_vs_X`` = X's time /
fused time: above 1 means fused is faster) and the fused GB/s; the forward rows add
the ``out=`` variant (the kernel apart from allocating its result) and a ``copy_`` of
the same bytes into a preallocated tensor (a fresh ``clone()`` mostly measures page
faults). pytest-benchmark's own figure is the fused call, synchronised per call.

The comparisons with ``torch.compile`` come last: on the CPU Inductor's code runs its
own OpenMP runtime, and once it has run in a process, eager ATen's parallel regions
compete with its threads on 2 cores (eager BCE at 64x20: about 20 us before, over 1 ms
after), so the eager baselines are timed before any compiled code has run.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
import torch.nn.functional as F
from conftest import synchronize, timed

import fastkp.ops as ops

TRAINING = {"64x2": (64, 2), "256x2": (256, 2), "64x20": (64, 20), "256x20": (256, 20)}
SIZES = {**TRAINING, "16M": (1 << 24,)}
# Inductor compiles a graph per shape; on 2 CPU cores that takes minutes, so there two sizes suffice.
CPU_COMPILED = ("64x20", "16M")


def composite_sigmoid_range(x, lo: float, hi: float):
    return torch.sigmoid(x) * (hi - lo) + lo


def torch_bce(x, t):
    return F.binary_cross_entropy_with_logits(x, t)


def sigmoid_range_inputs(device, shape, grad):
    return [torch.randn(shape, device=device, requires_grad=grad), -1.0, 1.0]


def bce_inputs(device, shape, grad):
    x = (torch.randn(shape, device=device) * 3).requires_grad_(grad)
    return [x, (torch.rand(shape, device=device) > 0.5).float()]


def sigmoid_range_out(x, lo, hi, out):
    return torch.ops.fastkp.sigmoid_range.out(x, lo, hi, out=out)


def bce_out(x, t, out):  # reduction none: writes every element's loss
    return torch.ops.fastkp.bce_with_logits.out(x, t, None, None, 0, out=out)


# name -> (eager baseline, fused operator, its out= variant, inputs(device, shape, requires_grad))
OPS = {
    "sigmoid_range": (composite_sigmoid_range, ops.sigmoid_range, sigmoid_range_out, sigmoid_range_inputs),
    "bce_with_logits": (torch_bce, ops.bce_with_logits, bce_out, bce_inputs),
}


def calls(op: str, device: torch.device, size: str, backward: bool):
    """(inputs, wrap): wrap(fn) is a no-argument call of fn on the inputs, forward only
    or forward+backward (gradient reset, forward, backward from a ones gradient)."""
    torch.manual_seed(0)
    args = OPS[op][3](device, SIZES[size], backward)
    x = args[0]

    def wrap(fn):
        def forward():
            return fn(*args)

        def forward_backward():
            x.grad = None
            y = fn(*args)
            y.backward(torch.ones_like(y))

        return forward_backward if backward else forward

    return args, wrap


def run(benchmark, label: str, device: torch.device, fused, baselines: dict, nbytes: int) -> None:
    """Times ``fused`` and the baselines together; reports them on ``benchmark``."""
    times = timed({"fused": fused, **baselines}, device)
    benchmark(lambda: (fused(), synchronize(device)))
    fused_s = times.pop("fused")
    info = {"fused_ms": float(f"{fused_s * 1e3:.5g}"), "fused_GBps": round(nbytes / fused_s / 1e9, 2)}
    for name, secs in times.items():
        info[f"{name}_ms"] = float(f"{secs * 1e3:.5g}")
        if name != "copy":
            info[f"speedup_vs_{name}"] = round(secs / fused_s, 2)
    benchmark.extra_info.update(label=label, device=device.type, **info)
    print(f"\n{label} [{device.type}]: " + ", ".join(f"{k}={v}" for k, v in info.items()))


def nbytes(args, backward: bool) -> int:
    """Bytes read and written: forward reads x (and target), writes the result (or
    nothing, a reduced loss); forward+backward counts five tensors' worth."""
    return (5 if backward else 2) * args[0].nbytes


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("op", list(OPS))
def test_forward(benchmark, device, op, size):
    args, wrap = calls(op, device, size, backward=False)
    eager, fused, fused_out, _ = OPS[op]
    out, src, dst = torch.empty_like(args[0]), torch.randn_like(args[0]), torch.empty_like(args[0])
    baselines = {"eager": wrap(eager), "fused_out": lambda: fused_out(*args, out=out), "copy": lambda: dst.copy_(src)}
    run(benchmark, f"{op} fwd {size}", device, wrap(fused), baselines, nbytes(args, False))


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("op", list(OPS))
def test_forward_backward(benchmark, device, op, size):
    args, wrap = calls(op, device, size, backward=True)
    eager, fused = OPS[op][:2]
    run(benchmark, f"{op} fwd+bwd {size}", device, wrap(fused), {"eager": wrap(eager)}, nbytes(args, True))


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("backward", [False, True], ids=["fwd", "fwd_bwd"])
@pytest.mark.parametrize("op", list(OPS))
def test_compiled(benchmark, device, op, backward, size):
    if device.type == "cpu" and size not in CPU_COMPILED:
        pytest.skip(f"on the CPU compiled only at {', '.join(CPU_COMPILED)}")
    args, wrap = calls(op, device, size, backward)
    eager, fused = OPS[op][:2]
    compiled = wrap(torch.compile(eager, dynamic=False))
    run(benchmark, f"{op} {'fwd+bwd' if backward else 'fwd'} {size} vs compile", device, wrap(fused),
        {"compile": compiled}, nbytes(args, backward))


# ---- soft_argmax: (B, K, H, W) heatmaps -> (B, K, 2) coords + (B, K) peak ------------------

SOFT_ARGMAX_SIZES = {"64x17x24x32": (64, 17, 24, 32), "16x68x16x16": (16, 68, 16, 16),
                     "64x4x48x64": (64, 4, 48, 64)}
SOFT_ARGMAX_BETA = 4.0


def soft_argmax_calls(device: torch.device, size: str, backward: bool, channels_last: bool = False):
    """(heatmaps, wrap): wrap(fn) is a no-argument call of fn (fused or composite),
    forward only, or forward+backward from a fixed random gradient of the coordinates;
    channels_last: the maps in that layout, as a 1x1 convolution gives them in
    channels-last training."""
    torch.manual_seed(0)
    shape = SOFT_ARGMAX_SIZES[size]
    h = torch.randn(shape, device=device) * 2
    if channels_last:
        h = h.contiguous(memory_format=torch.channels_last)
    h.requires_grad_(backward)
    grad = torch.randn(*shape[:2], 2, device=device)

    def wrap(fn):
        def forward():
            return fn(h, SOFT_ARGMAX_BETA)

        def forward_backward():
            h.grad = None
            coords, _ = fn(h, SOFT_ARGMAX_BETA)
            coords.backward(grad)

        return forward_backward if backward else forward

    return h, wrap


@pytest.mark.parametrize("size", list(SOFT_ARGMAX_SIZES))
def test_soft_argmax_forward(benchmark, device, size):
    h, wrap = soft_argmax_calls(device, size, backward=False)
    run(benchmark, f"soft_argmax fwd {size}", device, wrap(ops.soft_argmax),
        {"eager": wrap(ops.soft_argmax_composite)}, h.nbytes)


@pytest.mark.parametrize("size", list(SOFT_ARGMAX_SIZES))
def test_soft_argmax_forward_backward(benchmark, device, size):
    # bytes: the forward reads the maps; the backward reads them and writes their gradient
    h, wrap = soft_argmax_calls(device, size, backward=True)
    run(benchmark, f"soft_argmax fwd+bwd {size}", device, wrap(ops.soft_argmax),
        {"eager": wrap(ops.soft_argmax_composite)}, 3 * h.nbytes)


@pytest.mark.parametrize("size", list(SOFT_ARGMAX_SIZES))
def test_soft_argmax_channels_last_forward_backward(benchmark, device, size):
    h, wrap = soft_argmax_calls(device, size, backward=True, channels_last=True)
    run(benchmark, f"soft_argmax fwd+bwd {size} channels_last", device, wrap(ops.soft_argmax),
        {"eager": wrap(ops.soft_argmax_composite)}, 3 * h.nbytes)


def thread_timed(fns: dict, rounds: int = 7, calls: int = 20) -> dict[str, float]:
    """Median CPU seconds per call of each function on the calling thread
    (``time.thread_time``), rounds interleaved: on a shared machine the time other
    jobs hold the core is not counted, as it is by wall clock. Meaningful with one
    thread (``OMP_NUM_THREADS=1``), where all the work runs on the caller."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.thread_time()
            for _ in range(calls):
                fn()
            samples[name].append((time.thread_time() - t0) / calls)
    return {name: statistics.median(s) for name, s in samples.items()}


@pytest.mark.parametrize("size", list(SOFT_ARGMAX_SIZES))
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_soft_argmax_forward_backward_cpu_time(benchmark, device, layout, size):
    """The CPU time of a training step's soft_argmax, fused and composite (one thread)."""
    if device.type != "cpu" or torch.get_num_threads() != 1:
        pytest.skip("CPU time with one thread: OMP_NUM_THREADS=1, --device cpu")
    h, wrap = soft_argmax_calls(device, size, backward=True, channels_last=layout == "channels_last")
    fused, eager = wrap(ops.soft_argmax), wrap(ops.soft_argmax_composite)
    times = thread_timed({"fused": fused, "eager": eager})
    benchmark(fused)
    info = {"fused_cpu_ms": round(times["fused"] * 1e3, 4), "eager_cpu_ms": round(times["eager"] * 1e3, 4),
            "speedup_vs_eager": round(times["eager"] / times["fused"], 2)}
    label = f"soft_argmax fwd+bwd {size} {layout} cpu time"
    benchmark.extra_info.update(label=label, device=device.type, **info)
    print(f"\n{label} [{device.type}]: " + ", ".join(f"{k}={v}" for k, v in info.items()))


@pytest.mark.parametrize("size", list(SOFT_ARGMAX_SIZES))
@pytest.mark.parametrize("backward", [False, True], ids=["fwd", "fwd_bwd"])
def test_soft_argmax_compiled(benchmark, device, backward, size):
    if device.type == "cpu" and size != "16x68x16x16":
        pytest.skip("on the CPU compiled only at 16x68x16x16")
    h, wrap = soft_argmax_calls(device, size, backward)
    compiled = wrap(torch.compile(ops.soft_argmax_composite, dynamic=False))
    run(benchmark, f"soft_argmax {'fwd+bwd' if backward else 'fwd'} {size} vs compile", device,
        wrap(ops.soft_argmax), {"compile": compiled}, (3 if backward else 1) * h.nbytes)
