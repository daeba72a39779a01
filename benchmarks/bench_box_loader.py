"""The DALI loader with box crops against the same loader on whole images (goal: within 3%).

Run with
``pytest benchmarks/bench_box_loader.py -o python_files="bench_*.py" --benchmark-only -s``.
Generated COCO-keypoint images (320x320 JPEGs, a sample per person box) to (192, 192) training
batches of 32 with the fastai preset, box jitter included. A box crop changes only the
matrix of each sample, so the work is the same warp; what can differ is the decoded region
(a box's window is smaller than the image; DALI decodes only the window the output needs).
Both loaders run in interleaved passes of three epochs and the fastest pass of each counts; ``extra_info``
holds images per second and the ratio boxes / whole.
"""

from __future__ import annotations

import os
import time

import pytest

from fastkp.config import AUG_PRESETS
from fastkp.data.coco import load_coco
from fastkp.data.synth.coco import make_coco
from fastkp.pipeline import build_loader
from fastkp.pipeline.boxes import BoxCrop

IMAGES, SIZE, OUT, BATCH, THREADS, PASSES, EPOCHS = 320, (320, 320), (192, 192), 32, 2, 5, 3


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    root = make_coco(tmp_path_factory.mktemp("bench") / "coco", IMAGES, size=SIZE)
    d = load_coco(root)
    return d.train + d.valid


def _rate(loader) -> float:
    """Images per second over ``EPOCHS`` epochs."""
    start = time.perf_counter()
    n = sum(len(batch["index"]) for _ in range(EPOCHS) for batch in loader)
    return n / (time.perf_counter() - start)


def test_box_crops_cost_nothing(benchmark, people):
    aug = AUG_PRESETS["fastai"]
    kw = dict(size=OUT, batch_size=BATCH, aug=aug, num_threads=THREADS, seed=0)
    whole = build_loader(people, **kw)
    boxes = build_loader(people, box_crop=BoxCrop(), **kw)
    _rate(whole), _rate(boxes)  # warm-up: DALI builds its pipelines

    def passes() -> dict[str, float]:
        best = {"whole": 0.0, "boxes": 0.0}
        for _ in range(PASSES):
            best["whole"] = max(best["whole"], _rate(whole))
            best["boxes"] = max(best["boxes"], _rate(boxes))
        return best

    best = benchmark.pedantic(passes, rounds=1, iterations=1)
    ratio = best["boxes"] / best["whole"]
    benchmark.extra_info.update({"whole_img_s": round(best["whole"], 1), "boxes_img_s": round(best["boxes"], 1),
                                 "ratio_boxes_whole": round(ratio, 3), "load_average": os.getloadavg()[0]})
    print(f"\nloader {OUT[0]}x{OUT[1]}, batch {BATCH}, {THREADS} threads: whole images {best['whole']:.1f} img/s, "
          f"box crops {best['boxes']:.1f} img/s, ratio {ratio:.3f}")
