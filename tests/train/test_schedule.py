"""Schedules against fastai's formulas (fastai/callback/schedule.py), as pure functions."""

from __future__ import annotations

import math

import pytest
import torch

from fastkp.schedule import (FINAL_DIV, OneCycle, Phase, Smoother, SuggestedLRs, fine_tune_phases, one_cycle_at,
                             one_cycle_phase, spread, suggest_rates, sweep_diverged, sweep_rate)


def sched_cos(start: float, end: float, pos: float) -> float:
    """fastai's SchedCos, written out independently."""
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def combined_cos(pct: float, start: float, middle: float, end: float, pos: float) -> float:
    if pos < pct:
        return sched_cos(start, middle, pos / pct)
    return sched_cos(middle, end, (pos - pct) / (1 - pct))


@pytest.mark.parametrize("pct, div", [(0.25, 25.0), (0.99, 25.0), (0.3, 5.0)])
@pytest.mark.parametrize("pos", [0.0, 0.1, 0.2499, 0.25, 0.3, 0.5, 0.98, 0.99, 1.0])
def test_one_cycle_matches_fastai(pct, div, pos):
    lr, mom = one_cycle_at(pos, 1e-2, pct, div)
    assert lr == pytest.approx(combined_cos(pct, 1e-2 / div, 1e-2, 1e-2 / FINAL_DIV, pos), rel=1e-12)
    assert mom == pytest.approx(combined_cos(pct, 0.95, 0.85, 0.95, pos), rel=1e-12)


def test_one_cycle_landmarks():
    assert one_cycle_at(0.0, 1e-2, 0.25, 25.0) == pytest.approx((4e-4, 0.95))
    assert one_cycle_at(0.25, 1e-2, 0.25, 25.0) == pytest.approx((1e-2, 0.85))
    assert one_cycle_at(0.125, 1e-2, 0.25, 25.0) == pytest.approx(((4e-4 + 1e-2) / 2, 0.9))
    assert one_cycle_at(1.0, 1e-2, 0.25, 25.0) == pytest.approx((1e-7, 0.95))


def test_spread_is_fastais_lr_range():
    assert spread(1e-3) == (1e-3,) * 3
    assert spread(slice(1e-2)) == pytest.approx((1e-3, 1e-3, 1e-2))
    assert spread(slice(1e-5, 1e-3)) == pytest.approx((1e-5, 1e-4, 1e-3))  # even_mults
    assert spread((1.0, 2.0, 3.0)) == (1.0, 2.0, 3.0)


def test_fine_tune_plan_is_fastais():
    frozen, unfrozen = fine_tune_phases(3, 1e-2, freeze_epochs=2)
    assert frozen == Phase(2, pytest.approx((1e-3, 1e-3, 1e-2)), True, 0.99, 25.0)
    assert unfrozen.epochs == 3 and not unfrozen.frozen and (unfrozen.pct_start, unfrozen.div) == (0.3, 5.0)
    assert unfrozen.lrs == pytest.approx((5e-5, math.sqrt(5e-5 * 5e-3), 5e-3))  # base_lr/2/100 .. base_lr/2
    assert fine_tune_phases(3, 1e-2, freeze_epochs=0) == [unfrozen]
    assert fine_tune_phases(0, 1e-2) == [Phase(1, frozen.lrs, True, 0.99, 25.0)]
    assert one_cycle_phase(4, 1e-3, frozen=False) == Phase(4, (1e-3,) * 3, False, 0.25, 25.0)


def optimizer() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    return torch.optim.AdamW([{"params": [p]} for p in params], betas=(0.9, 0.99))


def test_one_cycle_drives_the_optimizer_per_step():
    opt = optimizer()
    phase = one_cycle_phase(2, slice(1e-4, 1e-2), frozen=False)
    sched = OneCycle(opt, phase, total_steps=40)
    for step in range(41):
        for group, lr_max in zip(opt.param_groups, phase.lrs):
            lr, mom = one_cycle_at(step / 40, lr_max, 0.25, 25.0)
            assert group["lr"] == pytest.approx(lr) and group["betas"] == (pytest.approx(mom), 0.99)
        sched.step()


def test_one_cycle_resumes_where_it_stopped():
    """The saved step, not the construction, decides the next rate (built before or after
    the optimizer state is loaded)."""
    opt, phase = optimizer(), one_cycle_phase(1, 1e-2, frozen=False)
    sched = OneCycle(opt, phase, 20)
    for _ in range(7):
        sched.step()
    state, want = sched.state_dict(), [g["lr"] for g in opt.param_groups]
    fresh = optimizer()
    again = OneCycle(fresh, phase, 20)
    again.load_state_dict(state)
    assert [g["lr"] for g in fresh.param_groups] == want and state == {"step": 7}


def test_lr_find_pieces():
    assert sweep_rate(0, 1e-7, 10.0, 100) == pytest.approx(1e-7)
    assert sweep_rate(50, 1e-7, 10.0, 100) == pytest.approx(1e-7 * 1e8 ** 0.5)
    assert sweep_rate(100, 1e-7, 10.0, 100) == pytest.approx(10.0)
    s = Smoother()
    assert s.add(2.0) == pytest.approx(2.0)  # debiased: the first value itself
    assert s.add(4.0) == pytest.approx((0.98 * 0.02 * 2 + 0.02 * 4) / (1 - 0.98**2))
    assert sweep_diverged(float("nan"), 1.0) and sweep_diverged(4.1, 1.0) and not sweep_diverged(3.9, 1.0)
    assert suggest_rates([1e-4] * 20, [float("inf")] * 20, 100, 1e-7) == SuggestedLRs(1e-7, 1e-7, 1e-7)


def sweep(loss_at) -> tuple[list[float], list[float]]:
    lrs = [sweep_rate(i, 1e-7, 10.0, 100) for i in range(100)]
    return lrs, [loss_at(math.log10(lr)) for lr in lrs]


def test_suggestions_on_a_clean_valley():
    """Flat to 1e-3, falling (fastest at first) to a minimum at 1e-1, then diverging."""
    lrs, losses = sweep(lambda e: 1.0 if e < -3 else 0.2 + 0.8 * math.exp(-3 * (e + 3)) if e < -1 else
                        0.2 + 5 * (e + 1))
    s = suggest_rates(lrs, losses, 100, 1e-7)
    assert s.minimum == pytest.approx(1e-2, rel=0.2)  # the rate at the minimum / 10
    assert 1e-3 <= s.steep <= 1.2e-3  # the fall starts at its steepest
    assert 3e-3 < s.valley < 3e-2  # past the first third of the fall


def test_valley_is_sane_where_the_minimum_is_noise():
    """The Biwi demo's shape: flat and noisy down to 1e-1, trains well at 1e-2; the noise
    put the minimum (and minimum/10) at a tiny rate."""
    noise = [0.0] * 100
    noise[20] = -0.05  # the flat part's lowest point is noise at ~6e-6
    lrs, losses = sweep(lambda e: 1.0 if e < -1.2 else 1.0 - 0.8 * (e + 1.2) if e < 0.3 else 0.0 + 9 * (e - 0.3))
    losses = [v + n for v, n in zip(losses, noise)]
    s = suggest_rates(lrs, losses, 100, 1e-7)
    assert 1e-2 < s.valley < 1.0
    assert s.steep > 1e-2


def test_suggestions_stop_at_the_first_non_finite_loss():
    lrs, losses = sweep(lambda e: 1.0 - 0.1 * (e + 7))
    losses[60:] = [float("nan")] * 40
    s = suggest_rates(lrs, losses, 100, 1e-7)
    assert s.minimum == pytest.approx(lrs[59] / 10) and all(v < lrs[60] for v in s)
