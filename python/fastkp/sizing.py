"""The recipe sized to the data: the batch, and a random body's length, from the training set.

- **Batch cap.** The batch per process is at most a quarter of the training images over the
  processes, so an epoch has at least 4 optimizer steps (a 93-image DeepLabCut project and
  the book's batch of 64 gave one step an epoch). Every epoch sees every training image
  (:mod:`fastkp.pipeline.plan` completes the last batch from the start of the order).
- **Length by steps.** A random body trained with ``one_cycle`` and no explicit ``epochs``
  (``Config.min_steps`` set) runs until at least ``MIN_STEPS`` optimizer steps, never fewer
  epochs than the task's default and never more than ``MAX_EPOCHS``.

:func:`size_to_data` is idempotent: the loaders and the Learner apply it to the same Config
and get the same answer, and a resumed run re-derives what its first run wrote.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config

MIN_STEPS = 300
MAX_EPOCHS = 60
MIN_STEPS_PER_EPOCH = 4


def steps_per_epoch(n_train: int, bs: int, world: int = 1) -> int:
    """Optimizer steps of one epoch: every image seen, the last batch completed."""
    per_process = -(-n_train // world)
    return -(-per_process // bs)


def size_to_data(config: Config, n_train: int, world: int = 1) -> tuple[Config, list[str]]:
    """``config`` with the batch capped and the length set for ``n_train`` training images on
    ``world`` processes, and the lines that say what changed and why."""
    notes: list[str] = []
    bs = min(config.bs, max(1, n_train // (MIN_STEPS_PER_EPOCH * world)))
    if bs < config.bs:
        short = f"; fewer training images than one batch of {config.bs}" if n_train < config.bs * world else ""
        notes.append(f"batch size {config.bs} -> {bs}: at most a quarter of the {n_train} training images "
                     f"(at least {MIN_STEPS_PER_EPOCH} steps an epoch{short})")
    steps = steps_per_epoch(n_train, bs, world)
    epochs = config.epochs
    if config.min_steps is not None:
        epochs = min(MAX_EPOCHS, max(config.epochs, -(-config.min_steps // steps)))
        if epochs != config.epochs:
            notes.append(f"{epochs} epochs of {steps} steps: a random body trains for at least {config.min_steps} "
                         f"steps, at most {MAX_EPOCHS} epochs (--epochs sets the length)")
    return replace(config, bs=bs, epochs=epochs), notes
