"""Dataset indexing speed: ``load_biwi`` (headers only) against decoding and the book's reader.

Run with ``make bench`` or
``pytest benchmarks/bench_data.py -o python_files="bench_*.py" --benchmark-only -s``.
``extra_info`` holds samples indexed per second for each method and the
speed-ups; all three are measured in the same run on the same generated tree.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastkp.data import load_biwi
from fastkp.data.synth import make_biwi

PERSONS, FRAMES = 4, 500  # 2,000 frames of 640x480


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_biwi(tmp_path_factory.mktemp("bench") / "biwi", persons=PERSONS, frames_per_person=FRAMES)


def _best_rate(fn, n: int, rounds: int) -> float:
    """Samples per second of the fastest of ``rounds`` calls of ``fn`` over ``n`` samples."""
    best = min(_timed(fn) for _ in range(rounds))
    return n / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _decode_all(images: list[Path]) -> list[tuple[int, int]]:
    """Sizes the slow way: decode every image with PIL."""
    sizes = []
    for path in images:
        with Image.open(path) as im:
            im.load()
            sizes.append((im.height, im.width))
    return sizes


def _book_centres(root: Path, images: list[Path]) -> list[np.ndarray]:
    """The fastai book's ``get_ctr``: np.genfromtxt per pose file, folder 01's calibration."""
    cal = np.genfromtxt(root / "01" / "rgb.cal", skip_footer=6)
    centres = []
    for path in images:
        ctr = np.genfromtxt(str(path)[:-7] + "pose.txt", skip_header=3)
        c1 = ctr[0] * cal[0][0] / ctr[2] + cal[0][2]
        c2 = ctr[1] * cal[1][1] / ctr[2] + cal[1][2]
        centres.append(np.array([c1, c2]))
    return centres


def test_biwi_indexing_speed(benchmark, tree):
    d = benchmark.pedantic(load_biwi, args=(tree,), rounds=5, warmup_rounds=1)
    train, valid = d.train, d.valid
    n = len(train) + len(valid)
    assert n == PERSONS * FRAMES
    images = [Path(s.path) for s in train + valid]

    headers = n / benchmark.stats.stats.min
    decode = _best_rate(lambda: _decode_all(images), n, rounds=2)
    book = _best_rate(lambda: _book_centres(tree, images), n, rounds=2)
    benchmark.extra_info.update(
        samples=n,
        samples_per_s=round(headers),
        pil_decode_samples_per_s=round(decode),
        book_genfromtxt_samples_per_s=round(book),
        speedup_vs_pil_decode=round(headers / decode, 1),
        speedup_vs_book_genfromtxt=round(headers / book, 1),
    )
    print(
        f"\nload_biwi: {headers:.0f} samples/s over {n} frames; {headers / decode:.1f}x PIL full decode "
        f"({decode:.0f}/s), {headers / book:.1f}x the book's genfromtxt reader ({book:.0f}/s, no image sizes)"
    )
