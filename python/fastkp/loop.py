"""The epoch loop and evaluation, as functions (torchvision's ``train_one_epoch`` and
``evaluate``), plus the learning-rate sweep and the non-finite-loss guard.

Non-finite loss rule: each step folds ``isfinite(loss)`` into a flag on the
device (no host sync); every ``CHECK_EVERY`` steps and at the end of the epoch
one all-reduce tells every rank whether any rank saw a non-finite loss, so all
stop together. Passing a check copies the weights aside: on failure those
finite weights are what gets saved, never the diverged ones.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from . import distributed as dist
from . import heads as heads_mod
from .data import Sample
from .errors import TrainingError
from .heads import Head
from .heads.base import f32
from .schedule import Smoother, sweep_diverged, sweep_rate

CHECK_EVERY = 50
Batch = dict[str, torch.Tensor]


def total_loss(heads: Sequence[Head], outs: Sequence[torch.Tensor], batch: Batch) -> torch.Tensor:
    """The weighted sum of the heads' losses (float32)."""
    losses = [h.weight * h.loss(o, batch) for h, o in zip(heads, outs)]
    return losses[0] if len(losses) == 1 else torch.stack(losses).sum()


class FiniteGuard:
    """The non-finite-loss rule (module docstring) for one model."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.model = model
        self.flag = torch.zeros((), dtype=torch.bool, device=device)
        self.finite = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.checked_at = "the start of the run"

    def add(self, loss: torch.Tensor) -> None:
        self.flag |= ~torch.isfinite(loss.detach())

    def failure(self, epoch: int, saved: Path, last: Path) -> TrainingError:
        """The error to stop with once the finite weights are saved in ``saved``."""
        finished = f"the last finished epoch is in {last}" if last.exists() else "no epoch finished"
        return TrainingError(f"the training loss became NaN or infinite in epoch {epoch + 1}; the newest finite "
                             f"weights (from {self.checked_at}) are in {saved}, {finished}. Try a lower learning rate.")

    def check(self, where: str) -> bool:
        """True when no rank has seen a non-finite loss since the start; then the current
        weights become the saved finite ones (``where`` describes this point)."""
        if dist.any_flag(self.flag):
            return False
        for k, v in self.model.state_dict().items():
            self.finite[k].copy_(v)
        self.checked_at = where
        return True


def train_one_epoch(step: Callable[[Batch], torch.Tensor], loader: Iterable[Batch], sched: Any, *,
                    guard: FiniteGuard, epoch: int, device: torch.device, world: int,
                    progress: bool) -> dict[str, Any] | None:
    """One epoch of ``step`` (one optimizer step per batch) with ``sched.step()`` after each.
    Returns ``{"train_loss", "seen", "losses"}`` (losses per batch), or None when the loss
    became non-finite (``guard`` holds the newest finite weights)."""
    t0 = time.perf_counter()
    total = torch.zeros((), dtype=torch.float64, device=device)
    pending: list[torch.Tensor] = []
    losses: list[float] = []
    n = seen = 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}", leave=False, disable=not progress, file=sys.stderr)
    for batch in bar:
        loss = step(batch).detach()
        guard.add(loss)
        sched.step()
        total += loss
        pending.append(loss)
        n += 1
        seen += batch["images"].shape[0]
        if n % CHECK_EVERY == 0:
            if not guard.check(f"batch {n} of epoch {epoch + 1}"):
                return None
            losses += torch.stack(pending).tolist()  # one host sync per check
            pending.clear()
            bar.set_postfix(loss=f"{losses[-1]:.4f}", img_s=f"{seen * world / (time.perf_counter() - t0):.0f}")
    if not guard.check(f"the end of epoch {epoch + 1}"):
        return None
    losses += torch.stack(pending).tolist() if pending else []
    reduced = dist.sum_dict({"l": total, "n": float(n)}, device)
    return {"train_loss": reduced["l"] / max(reduced["n"], 1), "seen": seen, "losses": losses}


@torch.no_grad()
def outputs(model: torch.nn.Module, forward: Callable, loader: Iterable[Batch],
            autocast: Callable[[], AbstractContextManager], images: Callable[[Batch], torch.Tensor],
            flip_heads: Sequence[Head] | None = None) -> Iterator[tuple[Batch, list[torch.Tensor]]]:
    """(batch, float32 outputs per head) over a loader, in eval mode; with ``flip_heads``, the
    flip test: each batch runs with its mirror and each head averages the two."""
    model.eval()
    for batch in loader:
        x = images(batch)
        with autocast():
            outs = forward(x if flip_heads is None else torch.cat([x, x.flip(3)]))
        outs = [o.float() for o in outs]
        if flip_heads is not None:
            b = x.shape[0]
            outs = [h.flip_average(o[:b], o[b:]) for h, o in zip(flip_heads, outs)]
        yield batch, outs


def _gathered(parts: list[torch.Tensor]) -> np.ndarray:
    local = [torch.cat(parts).cpu().numpy()] if parts else []
    every = dist.gather_arrays(local)
    return np.concatenate(every) if every else np.zeros((0,))


def evaluate(batches: Iterable[tuple[Batch, list[torch.Tensor]]], heads: Sequence[Head],
             size: tuple[int, int], device: torch.device) -> tuple[dict[str, float], list[dict[str, float]]]:
    """``valid_loss`` and every head's metrics (merged names) over all ranks' batches, and
    each head's own metrics (its own names)."""
    sums: dict[str, Any] = {"loss": 0.0, "n": 0.0}
    arrays: dict[str, list[torch.Tensor]] = {}
    for batch, outs in batches:
        b = outs[0].shape[0]
        sums["loss"] = sums["loss"] + total_loss(heads, outs, batch).double() * b
        sums["n"] += b
        for i, (head, out) in enumerate(zip(heads, outs)):
            for k, v in head.batch_stats(out, batch, size).items():
                if v.dim() == 0:
                    sums[f"{i}:{k}"] = sums.get(f"{i}:{k}", 0.0) + v
                else:
                    arrays.setdefault(f"{i}:{k}", []).append(v)
    for key in dist.union_keys([*sums, *(f"[]{k}" for k in arrays)]):  # a rank may have had no batch
        if key.startswith("[]"):
            arrays.setdefault(key[2:], [])
        else:
            sums.setdefault(key, 0.0)
    total = dist.sum_dict(sums, device)
    stats: list[dict[str, Any]] = [{} for _ in heads]
    for key, value in total.items():
        if ":" in key:
            i, k = key.split(":", 1)
            stats[int(i)][k] = value
    for key in sorted(arrays):
        i, k = key.split(":", 1)
        stats[int(i)][k] = _gathered(arrays[key])
    parts = [h.metrics(s) for h, s in zip(heads, stats)]
    return {"valid_loss": total["loss"] / max(total["n"], 1), **heads_mod.merge(heads, parts)}, parts


class KeepFirst:
    """Iterates ``items`` unchanged and keeps a copy of the first one's first ``n`` images in
    ``into[key]`` (loaders may reuse their buffers), so the end-of-run figures need no
    extra decoding or forward pass."""

    def __init__(self, items, into: dict[str, Any], key: str, n: int = 9):
        self.items, self.into, self.key, self.n = items, into, key, n

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == 0:
                self.into[self.key] = self._copy(item)
            yield item

    def _copy(self, item):
        if isinstance(item, torch.Tensor):
            return item[:self.n].clone()
        if isinstance(item, dict):
            return {k: self._copy(v) for k, v in item.items()}
        return type(item)(self._copy(v) for v in item)


def predictions(batches: Iterable[tuple[Batch, list[torch.Tensor]]], samples: Sequence[Sample],
                heads: Sequence[Head], size: tuple[int, int], cropped: bool = False,
                min_score: float = 0.0) -> list[dict]:
    """One record per sample (``index`` in the batches), the fields fastkp.predict prints
    (``box`` too where the samples were cropped to their boxes; points scored below
    ``min_score`` blanked)."""
    results: list[dict] = []
    for batch, outs in batches:
        answers = [h.blank_below(h.predict(o, batch, size), min_score) for h, o in zip(heads, outs)]
        for i, idx in enumerate(batch["index"].tolist()):
            h, w = samples[idx].size
            fields = heads_mod.merge(heads, [head.record(a[i]) for head, a in zip(heads, answers)])
            box = {"box": [f32(v) for v in samples[idx].box]} if cropped and samples[idx].box is not None else {}
            results.append({"image": samples[idx].path, "height": h, "width": w, **box, **fields})
    return results


def endless(loader, first_epoch: int) -> Iterator[Batch]:
    """The loader's batches, epoch after epoch, from ``first_epoch`` on."""
    for epoch in itertools.count(first_epoch):
        loader.set_epoch(epoch)
        yield from loader


def lr_sweep(step: Callable[[Batch], torch.Tensor], batches: Iterator[Batch], opt: torch.optim.Optimizer, *,
             start_lr: float, end_lr: float, num_it: int, device: torch.device, world: int,
             progress: bool) -> tuple[list[float], list[float]]:
    """fastai's LRFinder: exponentially growing rates, one step each, until ``num_it`` steps
    or divergence; every rank follows the rank-averaged loss so all stop together. Returns
    (rates, smoothed losses)."""
    lrs: list[float] = []
    losses: list[float] = []
    smoother, best = Smoother(), float("inf")
    for i in tqdm(range(num_it), desc="lr_find", leave=False, disable=not progress, file=sys.stderr):
        lr = sweep_rate(i, start_lr, end_lr, num_it)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = step(next(batches)).detach()
        value = dist.sum_dict({"loss": loss}, device)["loss"] / world
        smooth = smoother.add(value)
        lrs.append(lr)
        losses.append(smooth)
        best = min(best, smooth)
        if sweep_diverged(smooth, best):
            break
    return lrs, losses
