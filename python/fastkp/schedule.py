"""Training schedules as fastai defines them (``fastai/callback/schedule.py``).

- :func:`spread`: one peak rate per parameter group (body start, body end, head).
- :func:`fine_tune_phases`: a frozen one-cycle phase, then an unfrozen one with
  discriminative rates; :func:`one_cycle_phase`: a single phase.
- :func:`one_cycle_at`: rate and momentum (Adam's beta1) at a position in a phase;
  :class:`OneCycle` applies them to an optimizer step by step.
- lr_find: :func:`sweep_rate`, :class:`Smoother`, :func:`sweep_diverged`,
  :func:`suggest_rates` (valley, minimum, steep).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

FINAL_DIV = 1e5  # the last rate of a cycle is lr_max / FINAL_DIV
MOMS = (0.95, 0.85, 0.95)  # beta1 at the start, the peak and the end of a cycle


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


def one_cycle_phase(epochs: int, lr_max: float | slice | tuple, frozen: bool, pct_start: float = 0.25,
                    div: float = 25.0) -> Phase:
    return Phase(epochs, spread(lr_max), frozen, pct_start, div)


def fine_tune_phases(epochs: int, base_lr: float, freeze_epochs: int = 1, lr_mult: float = 100) -> list[Phase]:
    """fastai's fine_tune: ``freeze_epochs`` on the head (pct_start 0.99), then ``epochs``
    unfrozen at slice(base_lr / 2 / lr_mult, base_lr / 2) with pct_start 0.3 and div 5."""
    phases = []
    if freeze_epochs > 0:
        phases.append(one_cycle_phase(freeze_epochs, slice(base_lr), True, pct_start=0.99))
    if epochs > 0:
        half = base_lr / 2
        phases.append(one_cycle_phase(epochs, slice(half / lr_mult, half), False, pct_start=0.3, div=5.0))
    return phases


def adamw(param_groups: list[list[torch.nn.Parameter]], fused: bool = False) -> torch.optim.AdamW:
    """fastai's default optimizer: Adam (beta2 0.99, eps 1e-5) with decoupled weight decay
    0.01, one parameter group per rate; the schedule sets the rates and beta1. ``fused``
    (for CUDA) steps in one kernel and lets GradScaler skip its per-step host sync."""
    return torch.optim.AdamW([{"params": g} for g in param_groups], lr=1e-3, betas=(0.9, 0.99), eps=1e-5,
                             weight_decay=0.01, fused=fused or None)


def _cos(start: float, end: float, pos: float) -> float:
    """fastai's SchedCos: from ``start`` at pos 0 to ``end`` at pos 1."""
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def one_cycle_at(pos: float, lr_max: float, pct_start: float, div: float) -> tuple[float, float]:
    """(rate, beta1) at ``pos`` in [0, 1] of a cycle: cosine from lr_max/div up to lr_max
    over ``pct_start``, then down to lr_max/FINAL_DIV; beta1 the other way round."""
    if pos < pct_start:
        p = pos / pct_start
        return _cos(lr_max / div, lr_max, p), _cos(MOMS[0], MOMS[1], p)
    p = (pos - pct_start) / (1 - pct_start)
    return _cos(lr_max, lr_max / FINAL_DIV, p), _cos(MOMS[1], MOMS[2], p)


class OneCycle:
    """Sets each parameter group's rate and beta1 for the next optimizer step of a phase
    of ``total_steps``; ``step()`` after every optimizer step. Resumable by state_dict."""

    def __init__(self, opt: torch.optim.Optimizer, phase: Phase, total_steps: int):
        self.opt, self.phase, self.total = opt, phase, max(int(total_steps), 1)
        self.step_num = 0
        self._apply()

    def _apply(self) -> None:
        pos = min(self.step_num / self.total, 1.0)
        for group, lr_max in zip(self.opt.param_groups, self.phase.lrs):
            group["lr"], beta1 = one_cycle_at(pos, lr_max, self.phase.pct_start, self.phase.div)
            group["betas"] = (beta1, group["betas"][1])

    def step(self) -> None:
        self.step_num += 1
        self._apply()

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step_num}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step_num = int(state["step"])
        self._apply()


def sweep_rate(i: int, start_lr: float, end_lr: float, num_it: int) -> float:
    """lr_find's rate at step ``i``: exponential from start_lr (i = 0) to end_lr (i = num_it)."""
    return start_lr * (end_lr / start_lr) ** (i / num_it)


class Smoother:
    """fastai's smoothed loss: an exponential moving average (beta 0.98), debiased."""

    def __init__(self, beta: float = 0.98):
        self.beta, self.avg, self.n = beta, 0.0, 0

    def add(self, value: float) -> float:
        self.n += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * value
        return self.avg / (1 - self.beta ** self.n)


def sweep_diverged(smooth: float, best: float) -> bool:
    """lr_find stops when the smoothed loss is not finite or above 4x its minimum."""
    return not math.isfinite(smooth) or smooth > 4 * best


class SuggestedLRs(NamedTuple):
    """lr_find's suggestions, as fastai names them; ``valley`` is the one to use."""

    valley: float
    minimum: float
    steep: float


def _valley(lrs: np.ndarray, losses: np.ndarray) -> float:
    """fastai's valley: the longest run of decreasing losses (as a subsequence); the rate a
    little past its first third."""
    n = len(losses)
    run = [1] * n  # length of the longest decreasing subsequence ending at i
    end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j]:
                run[i] = max(run[i], run[j] + 1)
        if run[i] > run[end]:
            end = i
    start = end - run[end]
    third = (end - start) / 3
    return float(lrs[max(0, start + int(third) + int(third / 2))])


def suggest_rates(lrs: list[float], losses: list[float], num_it: int, fallback: float) -> SuggestedLRs:
    """fastai's suggestions over the smoothed losses of the sweep, leaving out its first
    tenth and last five steps and everything from the first non-finite loss on:
    ``minimum`` = rate at the lowest loss / 10, ``steep`` = rate where the loss falls
    fastest against log(rate), ``valley`` as :func:`_valley`."""
    lr, loss = np.asarray(lrs[num_it // 10:-5], float), np.asarray(losses[num_it // 10:-5], float)
    bad = np.flatnonzero(~np.isfinite(loss))
    if bad.size:
        lr, loss = lr[:bad[0]], loss[:bad[0]]
    if len(loss) < 2:
        return SuggestedLRs(fallback, fallback, fallback)
    slopes = np.diff(loss) / np.diff(np.log(lr))
    return SuggestedLRs(_valley(lr, loss), float(lr[np.argmin(loss)]) / 10, float(lr[np.argmin(slopes)]))
