"""Running a deployed keypoint model over labelled samples in batches, for
``python -m fastkp.evaluate``: the images are checked together (as fastkp-infer's decoders
check them), decoded as displayed on worker threads one batch ahead of the model, and
consecutive samples of one image size share a model call (at most ``BATCH_BYTES`` of
pixels, as ``fastkp.predict`` bounds the boxes of one image). benchmarks/bench_evaluate.py
measures it against ``fastkp.predict`` on the same images.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import Sample, check_images
from .errors import DatasetError
from .export.loader import DeployedModel
from .pipeline.decode import decode_checked
from .predict import BATCH_BYTES

MAX_BATCH = 32  # images per model call


def batches(samples: Sequence[Sample], usable: Sequence[bool]) -> Iterator[list[int]]:
    """Runs of consecutive usable samples of one size, each at most ``MAX_BATCH`` samples
    and ``BATCH_BYTES`` of RGB pixels."""
    run: list[int] = []
    for i, (sample, ok) in enumerate(zip(samples, usable)):
        if not ok:
            continue
        h, w = sample.size
        cap = max(1, min(MAX_BATCH, BATCH_BYTES // (3 * h * w)))
        if run and (samples[run[0]].size != sample.size or len(run) >= cap):
            yield run
            run = []
        run.append(i)
    if run:
        yield run


def run_model(model: DeployedModel, head: int, samples: Sequence[Sample], flip: bool, *, threads: int,
              max_pixels: int | None, failed: Callable[[DatasetError], None]) -> dict[int, np.ndarray]:
    """(K, 2) float64 points the model gives for each usable sample, by index; each unusable
    one goes to ``failed`` (which may raise) with the DatasetError naming its file."""
    reasons = check_images([s.path for s in samples], threads=threads, cache=False, max_pixels=max_pixels)
    for reason in filter(None, reasons):
        failed(DatasetError(reason))
    boxes = model.metadata.box_crop is not None
    answers: dict[int, np.ndarray] = {}
    bar = tqdm(total=len(samples), desc="evaluate", unit="img", file=sys.stderr, disable=None)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        def decode(run: list[int]) -> list[Future]:
            return [pool.submit(decode_checked, samples[i].path, samples[i].size, max_pixels) for i in run]

        runs = list(batches(samples, [r is None for r in reasons]))
        ahead = decode(runs[0]) if runs else []
        for n, run in enumerate(runs):
            decoded, ahead = ahead, decode(runs[n + 1]) if n + 1 < len(runs) else []
            kept, pixels = [], []
            for i, future in zip(run, decoded):
                try:
                    pixels.append(future.result())
                    kept.append(i)
                except DatasetError as e:
                    failed(e)
            if kept:
                answers.update(zip(kept, _call(model, head, [samples[i] for i in kept], pixels, flip, boxes)))
            bar.update(len(run))
    bar.close()
    return answers


def _call(model: DeployedModel, head: int, samples: list[Sample], pixels: list[np.ndarray], flip: bool,
          boxes: bool) -> np.ndarray:
    images = torch.from_numpy(np.stack(pixels))
    given = torch.from_numpy(np.stack([s.box for s in samples])) if boxes else None
    try:
        out = model.flip_answers(images, given) if flip else model.answers(images, given)
    except ValueError as e:  # the model's own input checks; name the first sample of the call
        raise DatasetError(f"{samples[0].path}: {e}") from None
    return out[head].cpu().numpy().astype(np.float64)
