"""The recipe sized to the data (fastkp.sizing): the batch cap, a random body's length by
optimizer steps, the notes that say so, and what the Learner and loaders get."""

from __future__ import annotations

import pytest

from fastkp.config import resolve
from fastkp.sizing import MAX_EPOCHS, MIN_STEPS, size_to_data, steps_per_epoch


def random_body(**given):
    return resolve("keypoints", None, pretrained="no", **given)


@pytest.mark.parametrize("n, bs, world, want", [(93, 64, 1, 23), (1000, 64, 1, 64), (93, 64, 2, 11), (3, 32, 1, 1),
                                                (8, 2, 1, 2)])
def test_the_batch_is_at_most_a_quarter_of_the_training_set(n, bs, world, want):
    cfg, notes = size_to_data(random_body(bs=bs, epochs=3), n, world)
    assert cfg.bs == want
    assert steps_per_epoch(n, cfg.bs, world) >= min(4, n // world)
    assert bool(notes) == (want < bs)
    if n < bs:
        assert "fewer training images than one batch of" in notes[0]


def test_a_random_body_runs_by_steps_within_the_epoch_bounds():
    cfg = random_body()
    assert cfg.schedule == "one_cycle" and cfg.min_steps == MIN_STEPS
    small, notes = size_to_data(cfg, 93)  # 23 a batch, 5 steps an epoch
    assert small.epochs == min(MAX_EPOCHS, -(-MIN_STEPS // 5)) and any("at least" in n for n in notes)
    large, _ = size_to_data(cfg, 100_000)  # many steps an epoch: the task's own epochs
    assert large.epochs == cfg.epochs
    tiny, _ = size_to_data(cfg, 4)
    assert tiny.epochs == MAX_EPOCHS


def test_explicit_epochs_and_pretrained_bodies_keep_their_length():
    assert random_body(epochs=7).min_steps is None
    assert size_to_data(random_body(epochs=7), 93)[0].epochs == 7
    tuned = resolve("keypoints", None, pretrained="no", schedule="fine_tune")
    assert tuned.min_steps is None and size_to_data(tuned, 93)[0].epochs == tuned.epochs


def test_sizing_is_idempotent():
    """The loaders and the Learner size the same Config and must agree; a resumed run
    re-derives what its config.json holds."""
    once, _ = size_to_data(random_body(bs=64), 93)
    twice, notes = size_to_data(once, 93)
    assert twice == once and notes == []
