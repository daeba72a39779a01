"""The learner: fastai's conveniences over the DALI loader and the fused operators.

    learn = Learner("biwi", "/data/biwi_head_pose", amp=True)
    learn.lr_find()
    learn.fine_tune(3, 1e-2)
    learn.show_results()
    learn.predict(["frame_00003_rgb.jpg"])

Every run is a list of one-cycle phases (``fine_tune`` = a frozen phase, then an
unfrozen one). After each epoch ``OUT/last.pth`` holds everything needed to
continue (model, optimizer, scheduler, scaler, RNG states, history), so
``resume=True`` picks up a run killed at any moment and ends with the same
weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import distributed as dist
from . import plots
from .atomic import atomic_writer
from .checkpoint import CheckpointError, RunConfig, load_checkpoint, save_checkpoint
from .data import DatasetError, Sample, read_header
from .metrics import classification_metrics, keypoint_metrics, keypoint_sums
from .model import ARCHS, FastkpModel
from .nn import BCEWithLogitsLoss
from .pipeline import AugConfig, build_loader, transform_points
from .pipeline.geometry import invert
from .tasks import TASKS, Task, ensure_demo


class TrainingError(Exception):
    """A run that cannot go on: the message says why and what was saved."""


class UsageError(ValueError):
    """A bad argument (task, arch, size, batch size, device, weights file)."""


@dataclass(frozen=True)
class Phase:
    """One one-cycle schedule: ``epochs`` at peak rates ``lrs`` (one per parameter group)."""

    epochs: int
    lrs: tuple[float, float, float]
    frozen: bool
    pct_start: float = 0.25
    div: float = 25.0


def spread(lr: float | slice | tuple) -> tuple[float, float, float]:
    """fastai's lr spreading over (body start, body end, head): a float -> all the same;
    slice(hi) -> (hi/10, hi/10, hi); slice(lo, hi) -> geometric from lo to hi."""
    if isinstance(lr, slice):
        if lr.start is None:
            return (lr.stop / 10, lr.stop / 10, lr.stop)
        lo, hi = lr.start, lr.stop
        return (lo, math.sqrt(lo * hi), hi)
    if isinstance(lr, tuple):
        return tuple(float(v) for v in lr)  # type: ignore[return-value]
    return (float(lr),) * 3


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda was asked for but no CUDA device is available")
    return torch.device(device)


class Learner:
    """Model + data + training loop for one task (see the module docstring)."""

    def __init__(
        self,
        task: str = "biwi",
        data: str | Path | None = None,
        *,
        arch: str | None = None,
        size: tuple[int, int] | None = None,
        bs: int | None = None,
        out: str | Path = "runs/fastkp",
        amp: bool = False,
        channels_last: bool = True,
        compile: bool = False,
        weights: str | Path | None = None,
        seed: int = 0,
        device: str = "auto",
        threads: int | None = None,
        aug: AugConfig | None = None,
        progress: bool = True,
    ):
        if task not in TASKS:
            raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        self.task: Task = TASKS[task]
        self.demo = data is None
        hyper = self.task.demo if self.demo else self.task.book
        self.hyper = hyper
        root = ensure_demo(self.task) if self.demo else Path(data)
        if not self.demo and not root.is_dir():
            raise DatasetError(f"{root}: data directory does not exist")
        self.data_dir = root
        arch = arch or hyper.arch
        if arch not in ARCHS:
            raise UsageError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
        size = tuple(size or hyper.size)
        if len(size) != 2 or min(size) < 32:
            raise UsageError(f"input size must be two values of at least 32 pixels, got {size}")
        self.bs = int(bs or hyper.bs)
        if self.bs < 1:
            raise UsageError(f"batch size must be positive, got {self.bs}")
        self.device = resolve_device(device)
        if threads:
            torch.set_num_threads(threads)
        self.threads = threads or torch.get_num_threads()
        self.seed = seed
        self.amp = amp
        self.progress = progress
        self.out = Path(out)
        self._seed_everything(seed)
        self.rank, self.world = dist.init_from_env(self.device)

        d = self.task.read(root)
        self.train_samples: list[Sample] = d["train"]
        self.valid_samples: list[Sample] = d["valid"]
        first = self.train_samples[0]
        keypoints = self.task.kind == "keypoints"
        self.config = RunConfig(
            task=self.task.name,
            arch=arch,
            size=size,  # type: ignore[arg-type]
            n_keypoints=int(first.keypoints.shape[0]) if keypoints else None,
            vocab=d.get("vocab"),
            flip_index=d.get("flip_index"),
            y_range=(-1.0, 1.0) if keypoints else None,
            threshold=self.task.threshold if not keypoints else None,
        )
        if len(self.train_samples) < self.bs * self.world:
            raise DatasetError(
                f"{root}: {len(self.train_samples)} training samples cannot fill one batch of {self.bs} "
                f"on each of {self.world} process(es); lower --bs"
            )

        self.model = (
            FastkpModel(arch, n_keypoints=self.config.n_keypoints)
            if keypoints
            else FastkpModel(arch, n_classes=len(self.config.vocab))
        )
        if weights is not None:
            try:
                self.model.load_body_weights(weights)
            except (ValueError, FileNotFoundError) as e:
                raise UsageError(str(e)) from None
        self.model.to(self.device)
        self.channels_last = channels_last
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.model.freeze_body(True)  # as fastai's vision_learner: train the head first
        self._forward = torch.compile(self.model) if compile else self.model
        self._ddp: DistributedDataParallel | None = None

        self.loss_fn = self._keypoint_loss if keypoints else BCEWithLogitsLoss()
        self.opt = torch.optim.AdamW(
            [{"params": g} for g in self.model.param_groups()], lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp and self.device.type == "cuda")
        self.amp_dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self.load_dtype = self.amp_dtype if amp else torch.float32
        self.aug = aug or AugConfig()
        self.train_dl = self._loader(self.train_samples, train=True)
        self.valid_dl = self._loader(self.valid_samples, train=False)
        self.history: list[dict] = []
        self.batch_losses: list[float] = []
        self.epoch = 0  # epochs completed across all phases

    # ---- set-up helpers ----------------------------------------------------------------

    def _seed_everything(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _loader(self, samples, train: bool):
        return build_loader(
            samples,
            size=self.config.size,
            batch_size=self.bs,
            train=train,
            aug=self.aug,
            device=self.device.type,
            dtype=self.load_dtype,
            num_threads=max(1, self.threads),
            seed=self.seed,
            shard_id=self.rank,
            num_shards=self.world,
            flip_index=self.config.flip_index,
        )

    @staticmethod
    def _keypoint_loss(pred: torch.Tensor, batch: dict) -> torch.Tensor:
        """MSE over labelled, visible coordinates (in [-1, 1] units), computed in float32."""
        vis = batch["visible"].unsqueeze(-1).to(torch.float32)
        err = (pred.float() - batch["keypoints"]).square() * vis
        return err.sum() / (2 * vis.sum()).clamp_min(1.0)

    def _loss(self, out: torch.Tensor, batch: dict) -> torch.Tensor:
        if self.task.kind == "keypoints":
            return self._keypoint_loss(out, batch)
        return self.loss_fn(out, batch["labels"])

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def _net(self):
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

    # ---- training ----------------------------------------------------------------------

    def fit_one_cycle(self, epochs: int, lr_max: float | slice = 1e-3, *, pct_start: float = 0.25,
                      div: float = 25.0, resume: bool = False) -> list[dict]:
        """Cosine one-cycle: rates rise from lr_max/div to lr_max over pct_start of the
        steps, then fall to lr_max/div/1e5; Adam's beta1 cycles 0.95 -> 0.85 -> 0.95.
        Trains whatever is unfrozen (the head only on a new learner, as in fastai)."""
        frozen = not next(p for p in self.model.body.parameters() if p.ndim > 1).requires_grad
        return self._run([Phase(epochs, spread(lr_max), frozen, pct_start, div)], resume)

    def fine_tune(self, epochs: int, base_lr: float = 2e-3, *, freeze_epochs: int = 1,
                  lr_mult: float = 100, resume: bool = False) -> list[dict]:
        """fastai's fine_tune: ``freeze_epochs`` of one-cycle on the head (body frozen except
        BatchNorm), then ``epochs`` unfrozen with discriminative rates base_lr/2/lr_mult ..
        base_lr/2 across the body groups and the head."""
        phases = []
        if freeze_epochs > 0:
            phases.append(Phase(freeze_epochs, spread(slice(base_lr)), True, pct_start=0.99))
        base_lr /= 2
        if epochs > 0:
            phases.append(Phase(epochs, spread(slice(base_lr / lr_mult, base_lr)), False, pct_start=0.3, div=5.0))
        return self._run(phases, resume)

    def _scheduler(self, phase: Phase) -> torch.optim.lr_scheduler.OneCycleLR:
        return torch.optim.lr_scheduler.OneCycleLR(
            self.opt,
            max_lr=list(phase.lrs),
            total_steps=phase.epochs * len(self.train_dl),
            pct_start=phase.pct_start,
            anneal_strategy="cos",
            div_factor=phase.div,
            final_div_factor=1e5,
            cycle_momentum=True,
            base_momentum=0.85,
            max_momentum=0.95,
        )

    def _run(self, phases: list[Phase], resume: bool) -> list[dict]:
        plan = [asdict(p) for p in phases]
        ckpt = self._resume_state(plan) if resume else None
        self.out.mkdir(parents=True, exist_ok=True)
        if ckpt is None:
            self.history, self.epoch, self.best = [], 0, None
        total = sum(p.epochs for p in phases)
        start = self.epoch
        if resume and start >= total:
            self._log(f"{self.out / 'last.pth'} already holds all {total} epochs of this run; nothing to do")
            return self.history
        first_epoch_of = np.cumsum([0] + [p.epochs for p in phases])
        self._print_header()
        for i, phase in enumerate(phases):
            if first_epoch_of[i + 1] <= start:
                continue
            self.freeze() if phase.frozen else self.unfreeze()
            sched = self._scheduler(phase)
            if ckpt is not None and first_epoch_of[i] < start:
                sched.load_state_dict(ckpt["scheduler"])  # resumed inside this phase
            ckpt = None
            for _ in range(max(start, first_epoch_of[i]), first_epoch_of[i + 1]):
                self._epoch(sched, plan)
        self._final_plots()
        return self.history

    def _resume_state(self, plan: list[dict]) -> dict | None:
        path = self.out / "last.pth"
        if not path.exists():
            raise CheckpointError(f"--resume: {path} does not exist (nothing to resume in {self.out})")
        ckpt = load_checkpoint(path, map_location=self.device)
        cfg: RunConfig = ckpt["config"]
        if cfg.task != self.config.task:
            raise CheckpointError(f"--resume: {path} is a {cfg.task!r} run, not {self.config.task!r}")
        if (cfg.arch, tuple(cfg.size)) != (self.config.arch, tuple(self.config.size)):
            raise CheckpointError(f"--resume: {path} was trained as {cfg.arch} at {cfg.size}, not "
                                  f"{self.config.arch} at {self.config.size}")
        if ckpt.get("plan") != plan:
            raise CheckpointError(f"--resume: {path} was made with another schedule (epochs, learning "
                                  "rates or freeze epochs differ); resume with the same flags")
        self.config.threshold = cfg.threshold  # the sweep's best so far
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.history, self.best = ckpt["epoch"], list(ckpt["history"]), ckpt["best"]
        self._set_rng(ckpt["rng"])
        self._write_metrics()
        self._log(f"resuming from {path} after epoch {self.epoch}")
        return ckpt

    def _epoch(self, sched, plan: list[dict]) -> None:
        t0 = time.perf_counter()
        net = self._net()
        net.train()
        self.train_dl.set_epoch(self.epoch)
        total, n, seen = torch.zeros((), device=self.device), 0, 0
        bar = tqdm(self.train_dl, desc=f"epoch {self.epoch + 1}", leave=False,
                   disable=not self.progress or self.rank != 0, file=sys.stderr)
        for batch in bar:
            loss = self.train_step(net, batch)
            if loss is None:
                self._stop_on_nan(n)
            sched.step()
            total += loss.detach()
            n += 1
            seen += batch["images"].shape[0]
            value = loss.item()  # already synchronised by the isfinite check above
            self.batch_losses.append(value)
            bar.set_postfix(loss=f"{value:.4f}", img_s=f"{seen * self.world / (time.perf_counter() - t0):.0f}")
        train_loss = dist.sum_dict({"l": total, "n": float(n)}, self.device)
        metrics = {"epoch": self.epoch + 1, "train_loss": train_loss["l"] / max(train_loss["n"], 1)}
        metrics.update(self.validate())
        metrics["time_s"] = round(time.perf_counter() - t0, 1)
        metrics["train_img_s"] = round(seen * self.world / max(metrics["time_s"], 1e-9), 1)
        self.epoch += 1
        self.history.append(metrics)
        improved = self._improved(metrics)
        if improved and self.task.kind == "classification":
            self.config.threshold = metrics["best_threshold"]
        self._print_row(metrics)
        if self.rank == 0:
            state = self._state(sched, plan)
            save_checkpoint(self.out / "last.pth", self.config, **state)
            if improved:
                save_checkpoint(self.out / "best.pth", self.config, **state)
            self._write_metrics()

    def train_step(self, net, batch: dict) -> torch.Tensor | None:
        """One optimisation step on a batch; None (and no step) when the loss is not finite."""
        with self._autocast():
            loss = self._loss(net(self._images(batch)), batch)
        if not torch.isfinite(loss):
            return None
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return loss

    def _images(self, batch: dict) -> torch.Tensor:
        """The loader emits channels_last; NCHW training gets a contiguous copy."""
        return batch["images"] if self.channels_last else batch["images"].contiguous()

    def _improved(self, m: dict) -> bool:
        key, better = ("rmse_px", lambda a, b: a < b) if self.task.kind == "keypoints" else ("mAP", lambda a, b: a > b)
        value = m.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None or better(value, self.best):
            self.best = value
            return True
        return False

    def _state(self, sched, plan) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "plan": plan,
            "history": self.history,
            "best": self.best,
            "rng": self._get_rng(),
        }

    @staticmethod
    def _get_rng() -> dict:
        st = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [st[0], torch.from_numpy(st[1].astype(np.int64)), st[2], st[3], st[4]],
            "python": list(random.getstate()[1]) + [random.getstate()[0], random.getstate()[2]],
        }

    @staticmethod
    def _set_rng(rng: dict) -> None:
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        n = rng["numpy"]
        np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
        p = rng["python"]
        random.setstate((p[-2], tuple(p[:-2]), p[-1]))

    def _stop_on_nan(self, batch_index: int) -> None:
        path = self.out / "nan_stop.pth"
        if self.rank == 0:
            save_checkpoint(path, self.config, model=self.model.state_dict(), epoch=self.epoch,
                            history=self.history, best=self.best)
        raise TrainingError(
            f"loss became NaN/inf in epoch {self.epoch + 1}, batch {batch_index + 1}; the weights before "
            f"that step are in {path}, the last finished epoch in {self.out / 'last.pth'}. Try a lower --lr."
        )

    # ---- evaluation --------------------------------------------------------------------

    @torch.no_grad()
    def _outputs(self, loader):
        """Yields (batch, model output) over a loader in eval mode."""
        self.model.eval()
        for batch in loader:
            with self._autocast():
                out = self._forward(self._images(batch))
            yield batch, out.float()

    def validate(self) -> dict[str, float]:
        """Validation loss and the task's metrics over the whole (sharded) validation set."""
        sums: dict[str, torch.Tensor | float] = {"loss": 0.0, "n": 0.0}
        probs, labels = [], []
        for batch, out in self._outputs(self.valid_dl):
            b = out.shape[0]
            sums["loss"] = sums["loss"] + self._loss(out, batch).double() * b
            sums["n"] = sums["n"] + b
            if self.task.kind == "keypoints":
                for k, v in keypoint_sums(out, batch["keypoints"], batch["visible"], self.config.size).items():
                    sums[k] = sums.get(k, 0.0) + v
            else:
                probs.append(torch.sigmoid(out).cpu().numpy())
                labels.append(batch["labels"].cpu().numpy())
        total = dist.sum_dict(sums, self.device)
        m = {"valid_loss": total["loss"] / max(total["n"], 1)}
        if self.task.kind == "keypoints":
            m.update(keypoint_metrics(total))
        else:
            p = np.concatenate(dist.gather_arrays(probs, self.device))
            y = np.concatenate(dist.gather_arrays(labels, self.device))
            m.update(classification_metrics(p, y, self.config.threshold))
        return m

    def constant_baseline(self) -> dict[str, float]:
        """Keypoints: the metrics of always predicting the mean training point (resize only),
        the bar any model must clear. Classification: mAP of predicting class frequencies."""
        def norm(samples):
            pts = np.stack([s.keypoints / np.array(s.size[::-1]) * 2 - 1 for s in samples])
            return torch.from_numpy(np.nan_to_num(pts)).float(), torch.from_numpy(~np.isnan(pts).any(-1))

        if self.task.kind == "keypoints":
            train, train_vis = norm(self.train_samples)
            valid, vis = norm(self.valid_samples)
            w = train_vis.unsqueeze(-1).float()
            mean = ((train * w).sum(0) / w.sum(0).clamp_min(1)).expand_as(valid)
            return keypoint_metrics(keypoint_sums(mean, valid, vis, self.config.size))
        freq = np.mean([s.labels for s in self.train_samples], axis=0)
        labels = np.stack([s.labels for s in self.valid_samples])
        return classification_metrics(np.broadcast_to(freq, labels.shape), labels, self.config.threshold)

    def predict(self, paths: list[str | Path]) -> list[dict]:
        """Predictions for image files: keypoints in the files' pixels, or label probabilities."""
        samples = [Sample(str(p), read_header(p).size) for p in paths]
        loader = build_loader(samples, size=self.config.size, batch_size=min(self.bs, len(samples)),
                              train=False, device=self.device.type, dtype=self.load_dtype,
                              num_threads=max(1, self.threads))
        results: list[dict] = []
        for batch, out in self._outputs(loader):
            for i, idx in enumerate(batch["index"].tolist()):
                r: dict = {"path": samples[idx].path}
                if self.task.kind == "keypoints":
                    h, w = self.config.size
                    px = (out[i].cpu().numpy() + 1) / 2 * np.array([w, h])
                    back = invert(batch["matrix"][i].double().cpu().numpy())
                    r["keypoints"] = transform_points(back, px).tolist()
                else:
                    p = torch.sigmoid(out[i]).cpu().numpy()
                    r["probabilities"] = dict(zip(self.config.vocab, map(float, p)))
                    r["labels"] = [c for c, v in zip(self.config.vocab, p) if v > self.config.threshold]
                results.append(r)
        return results

    def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100) -> float:
        """Exponential learning-rate sweep on the current (frozen or not) model; stops when
        the smoothed loss exceeds 4x its minimum, restores the weights, saves lr_find.png
        and returns the suggested rate (the rate at the loss minimum / 10)."""
        saved = {"model": {k: v.clone() for k, v in self.model.state_dict().items()},
                 "opt": self.opt.state_dict()}
        net = self._net()
        net.train()
        lrs, losses, avg, best = [], [], 0.0, math.inf
        it = 0
        epoch = 0
        while it < num_it:
            self.train_dl.set_epoch(10_000 + epoch)
            for batch in self.train_dl:
                lr = start_lr * (end_lr / start_lr) ** (it / max(num_it - 1, 1))
                for g in self.opt.param_groups:
                    g["lr"] = lr
                loss = self.train_step(net, batch)
                # every rank must take the same stop decision: follow the mean loss
                local = loss.detach() if loss is not None else torch.tensor(math.inf, device=self.device)
                value = dist.sum_dict({"loss": local}, self.device)["loss"] / self.world
                avg = 0.98 * avg + 0.02 * value
                smooth = avg / (1 - 0.98 ** (it + 1))
                lrs.append(lr)
                losses.append(smooth)
                best = min(best, smooth)
                it += 1
                if it >= num_it or not math.isfinite(smooth) or smooth > 4 * best:
                    it = num_it
                    break
            epoch += 1
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["opt"])
        finite = [(lr, l) for lr, l in zip(lrs, losses) if math.isfinite(l)]
        suggestion = min(finite, key=lambda t: t[1])[0] / 10 if finite else start_lr
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            plots.plot_lr_find(lrs, losses, suggestion, self.out / "lr_find.png")
        return suggestion

    # ---- reporting ---------------------------------------------------------------------

    def show_batch(self, path: str | Path | None = None) -> Path:
        """A training batch with its augmented keypoints or labels, as a PNG."""
        self.train_dl.set_epoch(0)
        batch = next(iter(self.train_dl))
        return plots.show_batch(batch, path or self.out / "show_batch.png", mean=self.config.mean,
                                std=self.config.std, vocab=self.config.vocab)

    def show_results(self, path: str | Path | None = None) -> Path:
        """Validation images with targets and predictions, as a PNG."""
        batch, out = next(self._outputs(self.valid_dl))
        preds = out if self.task.kind == "keypoints" else torch.sigmoid(out)
        return plots.show_results(batch, preds, path or self.out / "show_results.png", mean=self.config.mean,
                                  std=self.config.std, vocab=self.config.vocab,
                                  threshold=self.config.threshold or 0.5)

    def _final_plots(self) -> None:
        if self.rank != 0:
            return
        self.show_batch()
        self.show_results()
        plots.plot_losses(self.history, self.batch_losses, self.out / "losses.png")

    def _write_metrics(self) -> None:
        lines = "".join(json.dumps(h) + "\n" for h in self.history)
        if self.rank == 0:
            with atomic_writer(self.out / "metrics.jsonl") as f:
                f.write(lines.encode("utf-8"))

    def _columns(self) -> list[str]:
        extra = ["rmse", "rmse_px"] if self.task.kind == "keypoints" else ["accuracy_multi", "mAP"]
        if self.task.name == "landmarks":
            extra += ["nme", "pck"]
        return ["epoch", "train_loss", "valid_loss", *extra, "time_s"]

    def _print_header(self) -> None:
        self._log("  ".join(f"{c:>14}" for c in self._columns()))

    def _print_row(self, m: dict) -> None:
        cells = []
        for c in self._columns():
            v = m.get(c)
            cells.append(f"{v:>14d}" if isinstance(v, int) else f"{v:>14.5f}" if isinstance(v, float) else f"{v!s:>14}")
        self._log("  ".join(cells))

    def _log(self, line: str) -> None:
        if self.rank == 0:
            tqdm.write(line, file=sys.stdout)
