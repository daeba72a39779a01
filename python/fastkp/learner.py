"""The learner: fastai's conveniences over the DALI loader and the fused operators.

    learn = Learner.from_folder("biwi", "~/data/biwi_head_pose", amp=True)
    learn.lr_find()
    learn.fine_tune(3, 1e-2)   # a pretrained body; learn.fit(9, 3e-3) for a random one
    learn.show_results()
    learn.predict(["~/data/biwi_head_pose/13/frame_00003_rgb.jpg"])

It does no data I/O: the data comes built (:class:`fastkp.dataloaders.DataLoaders`;
:meth:`Learner.from_folder` builds both). It orchestrates settings (:mod:`fastkp.config`),
heads (:mod:`fastkp.heads`), schedules (:mod:`fastkp.schedule`), loops (:mod:`fastkp.loop`),
resumable state (:mod:`fastkp.runstate`) and reporting (:mod:`fastkp.recorder`). After each epoch
``OUT/last.pth`` holds all a run needs to continue: ``resume=True`` after a kill
at any moment ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import copy
import itertools
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import backbones
from . import distributed as dist
from . import heads as heads_mod
from . import plots
from .checkpoint import ModelSpec, load_checkpoint, save_checkpoint
from .config import ONE_CYCLE_LR, Config, recipe, resolve, resolve_device
from .dataloaders import DataLoaders
from .errors import CheckpointError, DatasetError, TrainingError, UsageError  # noqa: F401  (importable here)
from .loop import FiniteGuard, KeepFirst, endless, evaluate, lr_sweep, total_loss, train_one_epoch
from .predictor import Predictor, load_learner
from .recorder import Recorder
from .runfolder import RunFolder
from .runstate import RunState, check_resumable, seed_everything
from .schedule import OneCycle, Phase, SuggestedLRs, adamw, fine_tune_phases, one_cycle_phase, suggest_rates
from .sizing import size_to_data
from .tasks import TASKS

__all__ = ["Learner", "Predictor", "SuggestedLRs", "TrainingError", "UsageError", "load_learner"]


class Learner(Predictor):
    """Model + data + training for one task: ``data`` built for ``config`` (the heads, the
    loaders); files go to ``out``. :meth:`from_folder` reads the data and builds both."""

    def __init__(self, data: DataLoaders, config: Config, *, out: str | Path = "runs/fastkp"):
        self.task, self.data, self.rank, self.world, heads = TASKS[config.task], data, data.rank, data.world, data.heads
        config = size_to_data(config, len(data.train_samples), data.world)[0]  # as the loaders were built
        monitor, self.direction = heads_mod.monitored(heads, config.monitor)
        cfg = replace(config, loss=config.loss or heads[0].loss_name, monitor=monitor)
        mean, std = backbones.normalisation(cfg.arch)
        spec = ModelSpec(task=cfg.task, arch=cfg.arch, size=cfg.size, heads=heads, mean=mean, std=std,
                         pretrained=cfg.pretrained, box_crop=data.box_crop and data.box_crop.to_dict())
        super().__init__(spec, cfg, out, load_pretrained=cfg.pretrained and cfg.weights is None)
        if cfg.weights is not None:
            self.model.load_body_weights(cfg.weights)
        if cfg.amp and not self.amp and self.rank == 0:
            tqdm.write("fastkp: amp OFF: this CPU has no bf16 instructions (bf16 would run ~10x slower than "
                       "fp32); training in fp32", file=sys.stdout)
        self.model.freeze_body(True)  # as fastai's vision_learner: train the head first
        self._ddp: DistributedDataParallel | None = None
        self.opt = adamw(self.model.param_groups(), fused=self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and self.device.type == "cuda")
        self.train_dl, self.valid_dl = data.train, data.valid
        self.train_samples, self.valid_samples = data.train_samples, data.valid_samples
        self.box_crop = data.box_crop
        self.state = RunState()
        self._shown: dict[str, Any] = {}  # first batches kept for the end-of-run figures
        columns = heads_mod.merge(self.heads, [dict.fromkeys(h.columns()) for h in self.heads])
        self.recorder = Recorder(self.out, self.rank, list(columns))

    @classmethod
    def from_folder(cls, task: str = "biwi", data: str | Path | None = None, *, out: str | Path = "runs/fastkp",
                    config: Config | None = None, **settings: Any) -> Learner:
        """Settings resolved (:mod:`fastkp.config` fields and ``AugConfig`` fields: ``arch``,
        ``size``, ``bs``, ``amp``, ``aug``, ``loss``, ...; or a resolved ``config``), the data
        read from ``data`` (None: the task's demo set) and the Learner made on it."""
        cfg = config or resolve(task, data, **settings)
        seed_everything(cfg.seed)
        rank, world = dist.init_from_env(resolve_device(cfg.device))
        if rank == 0:
            tqdm.write(recipe(cfg), file=sys.stdout)
        return cls(DataLoaders.from_folder(cfg, rank=rank, world=world), cfg, out=out)

    @property
    def history(self) -> list[dict]:
        return self.state.history

    def log(self, line: str) -> None:
        """Print a line (rank 0 only, without breaking progress bars)."""
        self.recorder.log(line)

    def training_net(self):
        """The module to call in training: DDP-wrapped for the current frozen state."""
        if not dist.active():
            return self._forward
        if self._ddp is None:
            self._ddp = DistributedDataParallel(self._forward)
        return self._ddp

    def freeze(self) -> None:
        self.model.freeze_body(True)
        self._ddp = None

    def unfreeze(self) -> None:
        self.model.freeze_body(False)
        self._ddp = None

    def fit_one_cycle(self, epochs: int, lr_max: float | slice = 1e-3, *, pct_start: float = 0.25,
                      div: float = 25.0, resume: bool = False) -> list[dict]:
        """Cosine one-cycle (fastai's fit_one_cycle) on whatever is unfrozen (the head only
        on a new learner, as in fastai)."""
        frozen = not next(p for p in self.model.body.parameters() if p.ndim > 1).requires_grad
        phase = one_cycle_phase(epochs, lr_max, frozen, pct_start, div)
        return self._run([phase], replace(self.config, epochs=epochs, freeze_epochs=0, lr=phase.lrs[-1]), resume)

    def fit(self, epochs: int, lr: float = ONE_CYCLE_LR, *, resume: bool = False) -> list[dict]:
        """One-cycle over every layer (body unfrozen) at one peak rate ``lr``: the recipe for a
        body that starts from random weights (``schedule="one_cycle"``)."""
        phase = one_cycle_phase(epochs, float(lr), frozen=False)
        config = replace(self.config, epochs=epochs, freeze_epochs=0, lr=float(lr), schedule="one_cycle")
        return self._run([phase], config, resume)

    def fine_tune(self, epochs: int, base_lr: float = 2e-3, *, freeze_epochs: int = 1, lr_mult: float = 100,
                  resume: bool = False) -> list[dict]:
        """fastai's fine_tune: ``freeze_epochs`` on the head (body frozen except BatchNorm),
        then ``epochs`` unfrozen with discriminative rates base_lr/2/lr_mult .. base_lr/2."""
        config = replace(self.config, epochs=epochs, freeze_epochs=freeze_epochs, lr=float(base_lr),
                         schedule="fine_tune")
        return self._run(fine_tune_phases(epochs, base_lr, freeze_epochs, lr_mult), config, resume)

    def _run(self, phases: list[Phase], config: Config, resume: bool) -> list[dict]:
        if not any(p.epochs for p in phases):
            raise UsageError("nothing to train: the run has no epoch (epochs and freeze_epochs are 0)",
                             setting="epochs")
        self.config, self.state, self._shown = config, RunState(), {}
        with RunFolder(self.out, self.rank) as folder:
            self._train(phases, resume, folder)
            self._final_plots()  # while the last checkpoint is written; a failed run never waits for them
            folder.wait()
            self.recorder.summary(config.monitor, self.state, self.constant_baseline(), self.out / "best.pth")
        return self.history

    def _train(self, phases: list[Phase], resume: bool, folder: RunFolder) -> None:
        plan = [asdict(p) for p in phases]
        ckpt = self._resume(plan) if resume else None
        if self.rank == 0:
            self.config.write(self.out / "config.json")
        total, start = sum(p.epochs for p in phases), self.state.epoch
        if resume and start >= total:
            self.log(f"{self.out / 'last.pth'} already holds all {total} epochs of this run; finishing the plots")
            return
        first = list(itertools.accumulate([p.epochs for p in phases], initial=0))
        for legend in filter(None, (head.legend(self.config.size) for head in self.heads)):
            self.log(legend)
        self.recorder.header()
        guard = FiniteGuard(self.model, self.device)
        for i, phase in enumerate(phases):
            if first[i + 1] <= start:
                continue
            self.freeze() if phase.frozen else self.unfreeze()
            sched = OneCycle(self.opt, phase, phase.epochs * len(self.train_dl))
            if ckpt is not None and first[i] < start:
                sched.load_state_dict(ckpt["scheduler"])  # resumed inside this phase
            ckpt = None
            for _ in range(max(start, first[i]), first[i + 1]):
                self._epoch(sched, plan, guard, folder)
                if self.state.epoch == start + 1 < total:  # the run's first epoch: how long the rest takes
                    self.recorder.estimate(total - self.state.epoch, self.history[-1]["time_s"], len(self.train_dl))

    def _resume(self, plan: list[dict]) -> dict:
        path = self.out / "last.pth"
        if not path.exists():
            raise CheckpointError(f"{path} does not exist (nothing to resume in {self.out})")
        ckpt = load_checkpoint(path, map_location=self.device)
        check_resumable(ckpt, path, self.config, plan)
        self.heads[:] = ckpt["spec"].heads  # what the heads learnt so far (a threshold)
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.state.restore(ckpt, self.rank)
        self.recorder.write_metrics(self.history)
        self.log(f"resuming from {path} after epoch {self.state.epoch}")
        return ckpt

    def _epoch(self, sched: OneCycle, plan: list[dict], guard: FiniteGuard, folder: RunFolder) -> None:
        t0 = time.perf_counter()
        net = self.training_net()
        net.train()
        self.train_dl.set_epoch(self.state.epoch)
        loader = KeepFirst(self.train_dl, self._shown, "batch") if self.state.epoch == 0 else self.train_dl
        done = train_one_epoch(lambda batch: self.train_step(net, batch), loader, sched, guard=guard,
                               epoch=self.state.epoch, device=self.device, world=self.world,
                               progress=self.config.progress and self.rank == 0)
        if done is None:
            folder.wait()  # the message says whether last.pth exists
            self._stop_non_finite(guard)
        self.state.batch_losses += done["losses"]
        metrics, parts = evaluate(KeepFirst(self._outputs(self.valid_dl), self._shown, "results"), self.heads,
                                  self.config.size, self.device)
        metrics = {"epoch": self.state.epoch + 1, "train_loss": done["train_loss"], **metrics}
        metrics["time_s"] = round(time.perf_counter() - t0, 1)
        metrics["train_img_s"] = round(done["seen"] * self.world / max(metrics["time_s"], 1e-9), 1)
        self.state.epoch += 1
        self.state.history.append(metrics)
        improved = self.state.improved(metrics, self.config.monitor, self.direction)
        for note in [head.on_best(part) for head, part in zip(self.heads, parts)] if improved else []:
            if note:
                self.log(note)
        metrics.update(heads_mod.merge(self.heads, [h.epoch_info() for h in self.heads]))
        self.recorder.row(metrics)
        state = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "scheduler": sched.state_dict(), "scaler": self.scaler.state_dict(), "plan": plan,
                 **self.state.saved()}
        folder.save_epoch(self.spec, self.config, state, improved)
        self.recorder.write_metrics(self.history)

    def train_step(self, net, batch: dict) -> torch.Tensor:
        """One optimisation step on a batch; returns the loss (not checked: see loop.FiniteGuard)."""
        with self._autocast():
            loss = total_loss(self.heads, net(self._images(batch)), batch)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return loss

    def _stop_non_finite(self, guard: FiniteGuard) -> None:
        path = self.out / "nan_stop.pth"
        if self.rank == 0:
            save_checkpoint(path, self.spec, self.config, model=guard.finite, epoch=self.state.epoch,
                            history=self.history, best=self.state.best)
        raise guard.failure(self.state.epoch, path, self.out / "last.pth")

    def validate(self, tta: str | None = None) -> dict[str, float]:
        """Validation loss and every head's metrics over the whole (sharded) validation set;
        ``tta="flip"``: the flip test (keypoint heads with a flip permutation)."""
        return evaluate(self._outputs(self.valid_dl, tta), self.heads, self.config.size, self.device)[0]

    def constant_baseline(self) -> dict[str, float]:
        """What the best constant prediction scores on the validation set: the bar to clear."""
        return heads_mod.merge(self.heads, [h.baseline(self.train_samples, self.valid_samples, self.config.size,
                                                       self.box_crop) for h in self.heads])

    def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100) -> SuggestedLRs:
        """fastai's lr_find on the current (frozen or not) model: plots the sweep (lr_find.png,
        and inline in a notebook), restores the weights and optimizer, returns the suggestions."""
        self.log(f"lr_find: up to {num_it} steps at rates from {start_lr:g} to {end_lr:g} "
                 "(stops early when the loss diverges)")
        saved = copy.deepcopy({"model": self.model.state_dict(), "opt": self.opt.state_dict()})
        net = self.training_net()
        net.train()
        batches = endless(self.train_dl, first_epoch=10_000)
        lrs, losses = lr_sweep(lambda batch: self.train_step(net, batch), batches, self.opt, start_lr=start_lr,
                               end_lr=end_lr, num_it=num_it, device=self.device, world=self.world,
                               progress=self.config.progress and self.rank == 0)
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["opt"])
        suggested = suggest_rates(lrs, losses, num_it, fallback=start_lr)
        if self.rank == 0:
            plots.show_inline(plots.plot_lr_find(lrs, losses, suggested, self.out / "lr_find.png"))
        return suggested

    def show_batch(self, path: str | Path | None = None, batch: dict | None = None) -> Figure:
        """The first training batch with its augmented targets (written as a PNG, returned)."""
        if batch is None:
            self.train_dl.set_epoch(0)
            batch = next(iter(self.train_dl))
        return plots.show_batch(batch, self.heads, path or self.out / "show_batch.png", mean=self.spec.mean,
                                std=self.spec.std)

    def show_results(self, paths: list[str | Path] | None = None, path: str | Path | None = None) -> Figure:
        """Validation images (or the given files) with targets and predictions (written as a
        PNG, returned)."""
        if paths is not None:
            return super().show_results(paths, path)
        batch, outs = self._shown.pop("results", None) or next(self._outputs(self.valid_dl))
        return plots.show_results(batch, outs, self.heads, path or self.out / "show_results.png",
                                  mean=self.spec.mean, std=self.spec.std)

    def plot_losses(self, path: str | Path | None = None) -> Figure:
        """Training loss per batch and per epoch, validation loss per epoch."""
        return plots.plot_losses(self.history, self.state.batch_losses, path or self.out / "losses.png")

    def _final_plots(self) -> None:
        """From the batches the run kept (KeepFirst) when it has them."""
        if self.rank == 0:
            self.show_batch(batch=self._shown.pop("batch", None))
            self.show_results()
            self.plot_losses()
