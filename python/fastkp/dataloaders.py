"""The data a Learner trains on, built before it and passed in (fastai's ``DataLoaders``
apart from its ``Learner``): the demo set or the user's data read by its format, its
images verified, the heads its targets need (with their statistics: a vocabulary, the
values' mean and std), the box crop, and the training and validation loaders.

    data = DataLoaders.from_folder(config)                    # what python -m fastkp.train does
    data = DataLoaders.from_dataset(Dataset(train, valid, meta), config)   # samples in memory
    learn = Learner(data, config)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import backbones
from .config import Config
from .data import DatasetError, Sample, verify
from .data.dataset import Dataset
from .data.flips import with_flip_file
from .data.formats import ReadOptions
from .errors import UsageError
from .heads import Head
from .pipeline import build_loader
from .pipeline.boxes import BoxCrop
from .pipeline.plan import SCORING
from .runtime import Runtime
from .sizing import size_to_data
from .tasks import TASKS, ensure_demo, weighted


@dataclass
class DataLoaders:
    """``dataset`` (its samples verified), the ``heads`` made from it, the ``box_crop`` both
    loaders apply (None: whole images), and the ``train``/``valid`` loaders of process
    ``rank`` of ``world`` (torchrun)."""

    dataset: Dataset
    heads: list[Head]
    box_crop: BoxCrop | None
    train: Any
    valid: Any
    source: str  # where the data came from, as the run's first lines say it
    config: Config  # the settings the loaders were built for: sized to the data (fastkp.sizing)
    rank: int = 0
    world: int = 1

    @property
    def train_samples(self) -> list[Sample]:
        return self.dataset.train

    @property
    def valid_samples(self) -> list[Sample]:
        return self.dataset.valid

    @classmethod
    def from_folder(cls, config: Config, *, rank: int = 0, world: int = 1) -> DataLoaders:
        """Read ``config.data`` (None: the task's demo set, generated once) in ``config.format``
        and build the rest from it (:meth:`from_dataset`)."""
        task = TASKS[config.task]
        root = ensure_demo(task, progress=config.progress) if config.data is None else Path(config.data)
        if not root.exists():
            raise DatasetError(f"{root}: data path does not exist")
        options = ReadOptions(on_error=config.on_error, max_pixels=config.max_pixels, flip_json=config.flip_json)
        dataset = task.read(root, config.format, options)
        if config.flip_json is not None:
            dataset = with_flip_file(dataset, config.flip_json)
        source = f"synthetic demo set {root}" if config.data is None else str(root)
        return cls.from_dataset(dataset, config, rank=rank, world=world, source=source)

    @classmethod
    def from_dataset(cls, dataset: Dataset, config: Config, *, rank: int = 0, world: int = 1,
                     source: str = "samples in memory") -> DataLoaders:
        """Verify the samples' images, make the task's heads from ``dataset``, check that the
        data suits the settings (boxes to crop, a full batch per process) and build this
        rank's two loaders (of ``world`` processes)."""
        if not dataset.train:  # a COCO val-only folder
            raise DatasetError(f"{source}: no training annotations, only {len(dataset.valid)} validation samples: "
                               "evaluate them with python -m fastkp.evaluate, or train on data with a train split")
        task = TASKS[config.task]
        checked = {"on_error": config.on_error, "threads": config.threads, "max_pixels": config.max_pixels}
        dataset = Dataset(verify(dataset.train, **checked), verify(dataset.valid, **checked), dataset.meta)
        heads = weighted(task.heads(dataset, config), config.loss_weights)
        box_crop = BoxCrop(config.box_margin, config.box_mode) if config.box_crop else None
        unboxed = next((s for s in (*dataset.train, *dataset.valid) if s.box is None), None)
        if box_crop is not None and unboxed is not None:
            raise UsageError(f"box_crop: {unboxed.path} has no box (the {dataset.meta.format} reader gives none); "
                             "train on whole images", setting="box_crop")
        if len(dataset.train) < world:
            raise DatasetError(f"{source}: {len(dataset.train)} training samples cannot give each of {world} "
                               "processes one")
        config, notes = size_to_data(config, len(dataset.train), world)
        for note in notes if rank == 0 else []:
            print(f"fastkp: {note}", file=sys.stdout, flush=True)
        runtime = Runtime.of(config)
        mean, std = backbones.normalisation(config.arch)
        options: dict[str, Any] = {k: v for h in heads for k, v in h.loader_args().items()}
        options.update(size=config.size, batch_size=config.bs, aug=config.aug, device=runtime.device.type,
                       dtype=runtime.load_dtype, num_threads=runtime.threads, seed=config.seed, shard_id=rank,
                       num_shards=world, mean=mean, std=std, box_crop=box_crop, max_pixels=config.max_pixels)
        keys = {k for h in heads for k in h.batch_keys}
        # training steps never score: their batches leave out the labels only validation uses
        train = build_loader(dataset.train, train=True, keys=sorted(keys - set(SCORING)), **options)
        valid = build_loader(dataset.valid, train=False, keys=sorted(keys), **options)
        return cls(dataset, heads, box_crop, train, valid, source, config, rank, world)
