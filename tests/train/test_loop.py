"""The epoch loop's non-finite-loss rule: checked every CHECK_EVERY steps and at the epoch's
end (not per step), finite weights kept aside, evaluation over heads."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from fastkp import distributed, loop
from fastkp.heads import KeypointHead, MultiLabelHead


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self, flag: torch.Tensor) -> bool:
        self.calls += 1
        return bool(flag)


class Sched:
    steps = 0

    def step(self):
        self.steps += 1


def run(n_batches: int, bad_at: int | None, monkeypatch):
    """An epoch of n_batches steps that add 1 to a weight; the loss is NaN from step bad_at on."""
    checks = Counter()
    monkeypatch.setattr(distributed, "any_flag", checks)
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    guard = loop.FiniteGuard(model, torch.device("cpu"))
    taken = []

    def step(batch):
        with torch.no_grad():
            model.weight += 1
        taken.append(len(taken) + 1)
        return torch.tensor(math.nan if bad_at is not None and len(taken) >= bad_at else 1.0)

    batches = [{"images": torch.zeros(2, 3, 4, 4)}] * n_batches
    sched = Sched()
    done = loop.train_one_epoch(step, batches, sched, guard=guard, epoch=0, device=torch.device("cpu"), world=1,
                                progress=False)
    return done, guard, checks.calls, len(taken), sched.steps


def test_checks_every_50_steps_and_at_the_end(monkeypatch):
    done, guard, checks, taken, sched_steps = run(120, None, monkeypatch)
    assert checks == 3 and taken == sched_steps == 120  # at 50, 100 and the end: no sync per step
    assert done["losses"] == [1.0] * 120 and done["train_loss"] == 1.0 and done["seen"] == 240
    assert guard.checked_at == "the end of epoch 1" and guard.finite["weight"].item() == 120


def test_a_non_finite_loss_stops_at_the_next_check_keeping_finite_weights(monkeypatch):
    done, guard, checks, taken, _ = run(120, 70, monkeypatch)
    assert done is None and checks == 2 and taken == 100
    assert guard.finite["weight"].item() == 50 and guard.checked_at == "batch 50 of epoch 1"
    err = guard.failure(0, Path("/r/nan_stop.pth"), Path("/nowhere/last.pth"))
    assert "NaN" in str(err) and "batch 50 of epoch 1" in str(err) and "no epoch finished" in str(err)
    assert err.exit_code == 3


def test_a_short_epoch_is_checked_at_its_end(monkeypatch):
    done, guard, checks, taken, _ = run(5, 2, monkeypatch)
    assert done is None and checks == 1 and taken == 5
    assert guard.finite["weight"].item() == 0 and guard.checked_at == "the start of the run"


def test_evaluate_merges_the_heads_metrics():
    heads = [KeypointHead("a", n_keypoints=1), KeypointHead("b", n_keypoints=1), MultiLabelHead(vocab=["x", "y"])]
    batch = {"keypoints": torch.zeros(4, 1, 2), "visible": torch.ones(4, 1, dtype=torch.bool),
             "labels": torch.tensor([[1.0, 0.0]] * 4)}
    outs = [torch.zeros(4, 1, 2), torch.full((4, 1, 2), 0.5), torch.tensor([[3.0, -3.0]] * 4)]
    metrics, parts = loop.evaluate([(batch, outs)] * 2, heads, (64, 64), torch.device("cpu"))
    assert metrics["a_rmse_px"] == 0 and metrics["b_rmse_px"] == pytest.approx(16 * 2**0.5)
    assert metrics["mAP"] == 1.0 and parts[2]["accuracy_multi"] == 1.0 and "rmse" not in metrics
    assert metrics["valid_loss"] == pytest.approx(0.25 + float(torch.nn.functional.softplus(torch.tensor(-3.0))))
