"""A batch carries what its heads declare (``keys``), among the targets the samples have:
the planner computes nothing else, refuses keys it does not know, and by default plans
every target."""

from __future__ import annotations

import numpy as np
import pytest

from fastkp.data import Sample
from fastkp.errors import UsageError
from fastkp.heads import KeypointHead, MultiLabelHead
from fastkp.pipeline.plan import TARGETS, EpochPlanner

OUT = (60, 80)


def _samples(n: int = 8) -> list[Sample]:
    rng = np.random.default_rng(0)
    return [Sample(f"img{i}.jpg", (120, 160), rng.uniform(10, 100, (3, 2)).astype(np.float32),
                   np.eye(4, dtype=np.float32)[i % 4]) for i in range(n)]


def _first(keys) -> dict:
    planner = EpochPlanner(_samples(), size=OUT, batch_size=4, train=False, aug=None, seed=0, shard_id=0,
                           num_shards=1, flip_index=None, keys=keys)
    return next(planner.epoch(0)).targets


def test_by_default_every_target_the_samples_have():
    assert list(_first(None)) == ["keypoints", "visible", "points_px", "visibility", "image_id", "labels", "index",
                                  "matrix"]


@pytest.mark.parametrize("head", [MultiLabelHead(vocab=list("abcd")), KeypointHead(n_keypoints=3)])
def test_a_heads_keys_are_what_it_gets(head):
    targets = _first(head.batch_keys)
    assert set(targets) == ({*head.batch_keys} & set(TARGETS) - {"boxes", "area"}) | {"index", "matrix"}


def test_unknown_keys_are_refused():
    with pytest.raises(UsageError, match=r"keys \['score'\] are not batch targets"):
        _first(["labels", "score"])



def test_area_is_taken_where_every_sample_has_one():
    """COCO's and YOLO-pose's object areas reach the batch as ``area``, which the keypoint head reads."""
    samples = _samples()
    for i, s in enumerate(samples):
        s.area = 1000.0 + i
    planner = EpochPlanner(samples, size=OUT, batch_size=4, train=False, aug=None, seed=0, shard_id=0,
                           num_shards=1, flip_index=None, keys=KeypointHead.batch_keys)
    area = next(planner.epoch(0)).targets["area"]
    assert area.dtype == np.float32 and area.tolist() == [1000, 1001, 1002, 1003]
    samples[5].area = None
    assert "area" not in next(EpochPlanner(samples, size=OUT, batch_size=4, train=False, aug=None, seed=0, shard_id=0,
                                           num_shards=1, flip_index=None).epoch(0)).targets
