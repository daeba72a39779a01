"""Shared by the benchmarks: the device they run on (``--device cpu|cuda``, for the
benchmarks that take the ``device`` fixture), one timer, which synchronises CUDA, and
the results file: every benchmark that passes appends its figures to
``benchmarks/results/<module>.csv`` (or ``$FASTKP_BENCH_RESULTS/<module>.csv``), one row
per number in its ``extra_info`` (``docs/speed.md`` describes the columns)."""

from __future__ import annotations

import csv
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ("date", "machine", "cpu_flags", "command", "metric", "value", "note")
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")  # the ones that change the figures


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


# ---- the results files ------------------------------------------------------------------

def _cpuinfo() -> tuple[str, set[str]]:
    """The CPU's model name and flags from /proc/cpuinfo (the platform's name elsewhere)."""
    model, flags = None, set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def machine(cuda: bool) -> tuple[str, str]:
    """(machine, cpu_flags) of a results row: "<CPU model>, <n> cores[, <GPU name>]" and
    the relevant CPU flags present, space-separated."""
    model, flags = _cpuinfo()
    name = f"{model}, {os.cpu_count()} cores"
    if cuda and torch.cuda.is_available():
        name += f", {torch.cuda.get_device_name()}"
    return name, " ".join(f for f in CPU_FLAGS if f in flags)


def command(item: pytest.Item) -> str:
    """The node id and the options that change the figures: --device (for the benchmarks
    that take it) and the FASTKP_BENCH_* and thread variables that are set."""
    parts = [item.nodeid]
    if "device" in item.fixturenames:
        parts.append(f"--device {item.config.getoption('--device')}")
    env = sorted(k for k in os.environ if k.startswith("FASTKP_BENCH_") and k != "FASTKP_BENCH_RESULTS")
    parts += [f"{k}={os.environ[k]}" for k in env + [k for k in ("OMP_NUM_THREADS",) if k in os.environ]]
    return " ".join(parts)


def result_rows(item: pytest.Item, extra_info: dict) -> list[dict[str, str]]:
    """One row per number in ``extra_info`` (lists, strings and booleans are left out)."""
    cuda = "device" in item.fixturenames and item.config.getoption("--device") == "cuda"
    name, flags = machine(cuda)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    return [{"date": date, "machine": name, "cpu_flags": flags, "command": command(item), "metric": key,
             "value": str(value), "note": note}
            for key, value in extra_info.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)]


def append_rows(path: Path, rows: list[dict[str, str]]) -> None:
    """Append to the CSV, writing its header first when the file is new."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerows(rows)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """After a benchmark's call passed with measurements, append its rows to its module's CSV."""
    outcome = yield
    report = outcome.get_result()
    fixture = getattr(item, "funcargs", {}).get("benchmark")
    if call.when != "call" or not report.passed or fixture is None or fixture.stats is None:
        return
    folder = Path(os.environ.get("FASTKP_BENCH_RESULTS") or RESULTS)
    append_rows(folder / f"{item.path.stem}.csv", result_rows(item, fixture.extra_info))
