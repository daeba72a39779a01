"""COCO keypoint results: the JSON list pycocotools' ``COCO.loadRes`` takes, written by
``python -m fastkp.evaluate --coco-results FILE`` so that COCO's own evaluation can score
the same predictions as fastkp's ``oks_ap``.

One entry per scored sample, in sample order: ``image_id`` and ``category_id`` of its
annotation (``Sample.source``, kept by the COCO reader), ``keypoints`` ``[x1, y1, v1, ...]``
in COCO's pixel convention (``data.coco.COCO_SHIFT`` taken back off fastkp's; v is 1 for
every point) and ``score`` 1.0: fastkp's models give no confidence yet, and ``oks_ap``
scores every prediction 1 too. A prediction with a non-finite point (the model placed no
point: a miss) has no entry, as COCO's results can hold no such point.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .atomic import atomic_writer
from .data import Sample
from .data.coco import COCO_SHIFT
from .errors import UsageError

SCORE = 1.0


def coco_results(samples: Sequence[Sample], pred: np.ndarray) -> list[dict]:
    """The results entries of ``pred`` (N, K, 2) in fastkp pixels for ``samples`` (N), all
    from one COCO annotation file; UsageError (setting ``coco_results``) otherwise."""
    if any(s.source is None for s in samples):
        raise UsageError("COCO results need samples read from COCO annotation files", setting="coco_results")
    files = sorted({s.source["file"] for s in samples})
    if len(files) != 1:
        raise UsageError(f"COCO results answer one COCO annotation file; the samples come from {len(files)} "
                         f"({', '.join(files)}): score one split", setting="coco_results")
    entries = []
    for sample, points in zip(samples, np.asarray(pred, np.float64)):
        if not np.isfinite(points).all():
            continue
        xyv = np.concatenate([points - COCO_SHIFT, np.ones((len(points), 1))], axis=1)
        entries.append({"image_id": sample.source["image_id"], "category_id": sample.source["category_id"],
                        "keypoints": xyv.ravel().tolist(), "score": SCORE})
    return entries


def write_coco_results(path: str | Path, samples: Sequence[Sample], pred: np.ndarray) -> Path:
    """Write :func:`coco_results` to ``path`` as JSON (atomically); returns ``path``."""
    path = Path(path)
    entries = coco_results(samples, pred)
    with atomic_writer(path) as f:
        f.write(json.dumps(entries).encode())
    return path
