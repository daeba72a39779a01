"""Keypoint-format indexing speed: 10,000 records per format against the landmark CSV reader.

Run with
``pytest benchmarks/bench_readers.py -o python_files="bench_*.py" --benchmark-only -s``.
Each tree is written by the format's generator and grown to ``RECORDS`` records: 300W
and DeepLabCut (one image per record) link every image file ``RECORDS`` times over, COCO
and YOLO-pose (many objects per image) repeat the objects of ``IMAGES`` images. The
baseline, ``load_landmarks`` on a ``RECORDS``-row CSV grown the same way, is measured in
the same run; ``extra_info`` holds records per second and the ratio to it.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fastkp.data import load_landmarks
from fastkp.data.coco import load_coco
from fastkp.data.dlc import load_dlc
from fastkp.data.synth import make_landmarks
from fastkp.data.synth.coco import make_coco
from fastkp.data.synth.dlc import make_dlc
from fastkp.data.synth.w300 import make_300w
from fastkp.data.synth.yolo import make_yolo
from fastkp.data.w300 import load_300w
from fastkp.data.yolo import load_yolo_pose

RECORDS = 10_000
SEEDS = 40  # distinct generated images behind the linked copies
IMAGES = 300  # COCO and YOLO-pose images holding the RECORDS objects
SIZE = (32, 32)


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # a file system without hard links
        dst.write_bytes(src.read_bytes())


def _landmarks(base: Path) -> Path:
    root = make_landmarks(base / "landmarks", SEEDS, k=5, size=SIZE)
    rows = list(csv.reader(open(root / "landmarks.csv", newline="")))
    out = [rows[0]]
    for i in range(RECORDS):
        row = rows[1 + i % SEEDS]
        name = f"x{i:05d}.png"
        _link(root / "images" / row[0], root / "images" / name)
        out.append([name] + row[1:])
    with open(root / "landmarks.csv", "w", newline="") as f:
        csv.writer(f).writerows(out)
    return root


def _w300(base: Path) -> Path:
    seed = make_300w(base / "300w_seed", SEEDS, size=SIZE, valid_folder=False)
    pairs = sorted((p, next(q for q in p.parent.iterdir() if q.stem == p.stem and q.suffix != ".pts"))
                   for p in seed.rglob("*.pts"))
    root = base / "300w"
    for i in range(RECORDS):
        pts, image = pairs[i % len(pairs)]
        folder = root / ("valid" if i % 5 == 0 else "train") / f"set{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        _link(pts, folder / f"f{i:05d}.pts")
        _link(image, folder / f"f{i:05d}{image.suffix}")
    return root


def _dlc(base: Path) -> Path:
    root = make_dlc(base / "dlc", SEEDS, size=SIZE, videos=1)
    folder = root / "labeled-data" / "video1"
    path = folder / "CollectedData_synth.csv"
    rows = list(csv.reader(open(path, newline="")))
    out = rows[:3]
    for i in range(RECORDS):
        row = rows[3 + i % SEEDS]
        name = f"frame{i:05d}.png"
        _link(folder / row[2], folder / name)
        out.append(row[:2] + [name] + row[3:])
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(out)
    return root


def _coco(base: Path) -> Path:
    root = make_coco(base / "coco", IMAGES, size=SIZE)
    for path in (root / "annotations").glob("*.json"):
        spec = json.loads(path.read_text())
        share = RECORDS * len(spec["images"]) // IMAGES
        anns = [a for a in spec["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
        spec["annotations"] = [dict(anns[i % len(anns)], id=i + 1) for i in range(share)]
        path.write_text(json.dumps(spec))
    return root


def _yolo(base: Path) -> Path:
    root = make_yolo(base / "yolo", IMAGES, size=SIZE)
    labels = sorted((root / "labels").rglob("*.txt"))
    per_file = -(-RECORDS // len(labels))
    for i, path in enumerate(labels):
        lines = path.read_text().splitlines()
        n = min(per_file, RECORDS - i * per_file)
        path.write_text("\n".join(lines[j % len(lines)] for j in range(max(n, 1))) + "\n")
    return root / "data.yaml"


def _count(result) -> int:
    return len(result.train) + len(result.valid)


def _best(fn: Callable[[], object], rounds: int = 3) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(rounds):
        start = time.perf_counter()
        n = _count(fn())
        best = min(best, time.perf_counter() - start)
    return best, n


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> float:
    """Records per second of ``load_landmarks`` on a RECORDS-row CSV."""
    root = _landmarks(tmp_path_factory.mktemp("bench_readers"))
    seconds, n = _best(lambda: load_landmarks(root))
    assert n == RECORDS
    return n / seconds


FORMATS = {
    "300w": (_w300, load_300w),
    "coco": (_coco, load_coco),
    "dlc": (_dlc, load_dlc),
    "yolo": (_yolo, load_yolo_pose),
}


@pytest.mark.parametrize("kind", FORMATS)
def test_reader_indexing_speed(benchmark, tmp_path_factory, baseline, kind):
    make, load = FORMATS[kind]
    root = make(tmp_path_factory.mktemp(f"bench_{kind}"))
    result = benchmark.pedantic(load, args=(root,), rounds=3, warmup_rounds=1)
    n = _count(result)
    assert abs(n - RECORDS) <= RECORDS // 100  # COCO's split shares round down
    rate = n / benchmark.stats.stats.min
    benchmark.extra_info.update(records=n, records_per_s=round(rate), landmarks_csv_records_per_s=round(baseline),
                                ratio_to_landmarks_csv=round(rate / baseline, 2))
    print(f"\n{kind}: {n} records in {n / rate:.2f} s ({rate:.0f}/s), {rate / baseline:.2f}x the landmark CSV "
          f"reader ({baseline:.0f}/s)")
