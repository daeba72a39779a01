"""The data is built before the Learner and passed in: a Learner from samples held in
memory (no reader, no demo set), and from_folder doing both steps as the CLI does."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fastkp.config import resolve
from fastkp.data import Dataset, Sample
from fastkp.data.dataset import DatasetMeta
from fastkp.dataloaders import DataLoaders
from fastkp.learner import Learner
from fastkp.pipeline.plan import SCORING

TINY = dict(size=32, bs=4, epochs=1, progress=False, threads=1)


def _samples(folder, n: int, seed: int) -> list[Sample]:
    """n 48x64 images, each with a bright 2-point mark the points sit on."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        points = rng.uniform(8, 40, (2, 2)).astype(np.float32)
        pixels = np.zeros((48, 64, 3), np.uint8)
        for x, y in points:
            pixels[int(y) - 2:int(y) + 2, int(x) - 2:int(x) + 2] = 255
        path = folder / f"{seed}_{i}.png"
        Image.fromarray(pixels).save(path)
        out.append(Sample(str(path), (48, 64), keypoints=points))
    return out


def test_a_learner_from_samples_in_memory(tmp_path):
    meta = DatasetMeta(format="memory", split="given", point_names=("a", "b"), flip_index=(1, 0))
    dataset = Dataset(_samples(tmp_path, 12, 0), _samples(tmp_path, 4, 1), meta)
    config = resolve("keypoints", **TINY)
    data = DataLoaders.from_dataset(dataset, config)
    assert [h.kind for h in data.heads] == ["keypoints"] and data.heads[0].flip_index == [1, 0]
    assert data.heads[0].names == ["a", "b"] and data.source == "samples in memory"
    assert not set(SCORING) & set(next(iter(data.train)))  # training steps never score: nothing to copy
    assert {"points_px", "visibility", "image_id"} <= set(next(iter(data.valid)))
    learn = Learner(data, config, out=tmp_path / "run")
    assert learn.train_samples == dataset.train and learn.valid_dl is data.valid
    history = learn.fit(1)
    assert len(history) == 1 and np.isfinite(history[0]["rmse_px"])
    assert (tmp_path / "run" / "best.pth").exists()


def test_from_folder_reads_then_builds(tmp_path):
    from fastkp.data.synth import make_landmarks

    root = make_landmarks(tmp_path / "faces", n_images=20, k=5, size=(48, 48))
    learn = Learner.from_folder("keypoints", root, out=tmp_path / "run", **TINY)
    assert learn.data.source == str(root) and learn.data.dataset.meta.format == "csv"
    assert len(learn.train_samples) + len(learn.valid_samples) == 20
