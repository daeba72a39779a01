"""Shared by the benchmarks: the device they run on (``--device cpu|cuda``, for the
benchmarks that take the ``device`` fixture) and one timer, which synchronises CUDA."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", choices=("cpu", "cuda"),
                     help="device of the benchmarks that take the `device` fixture (default cpu)")


@pytest.fixture(scope="session")
def device(request) -> torch.device:
    dev = torch.device(request.config.getoption("--device"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda, but there is no CUDA device")
    return dev


def synchronize(device: torch.device | str) -> None:
    """Wait for the work queued on ``device`` (nothing to wait for on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _block(fn: Callable[[], object], calls: int, device) -> float:
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize(device)
    return time.perf_counter() - t0


def timed(fns: dict[str, Callable[[], object]], device: torch.device | str = "cpu", min_time: float = 0.5,
          block_time: float = 2e-3, min_blocks: int = 5) -> dict[str, float]:
    """Median seconds per call of each function, after one warm-up call each.

    Calls run in blocks of at least ``block_time``, with ``device`` synchronised
    before and after each block: queued CUDA work is counted, and a microsecond
    call is timed as a training step sees it (launches queue up; no per-call
    sync). The functions take turns block by block for ``min_time`` seconds each,
    so a busy moment on a shared machine slows them alike.
    """
    for fn in fns.values():
        fn()
    calls = {}
    for name, fn in fns.items():
        n = 1
        while (t := _block(fn, n, device)) < block_time:
            n = max(2 * n, int(n * block_time / max(t, 1e-9)))
        calls[name] = n
    samples: dict[str, list[float]] = {name: [] for name in fns}
    deadline = time.perf_counter() + min_time * len(fns)
    while time.perf_counter() < deadline or min(map(len, samples.values())) < min_blocks:
        for name, fn in fns.items():
            samples[name].append(_block(fn, calls[name], device) / calls[name])
    return {name: statistics.median(s) for name, s in samples.items()}
