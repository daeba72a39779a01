"""The value, scalar, binary and class heads on their own: loss, metrics, baseline,
records, exported post-processing, state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastkp import heads
from fastkp.data import Sample
from fastkp.heads import BinaryHead, ClassHead, ScalarHead, ValuesHead
from fastkp.heads.values import standardisation

pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")


def values_samples(rows) -> list[Sample]:
    return [Sample("x", (8, 8), values=np.array(r, np.float32)) for r in rows]


def test_values_head_learns_standardised_and_reports_original_units():
    train = values_samples([[1.0, 10.0], [3.0, 30.0]])
    mean, std = standardisation(train)
    assert mean == [2.0, 20.0] and std == [1.0, 10.0]
    head = ValuesHead(names=["gx", "gy"], mean=mean, std=std)
    batch = {"values": torch.tensor([[3.0, 10.0]])}
    out = torch.tensor([[1.0, -1.0]])  # standardised: exactly the target
    assert head.loss(out, batch) == 0
    m = head.metrics({k: float(v) for k, v in head.batch_stats(out + torch.tensor([0.5, 0.1]), batch, (8, 8)).items()})
    assert m["mae_gx"] == pytest.approx(0.5) and m["mae_gy"] == pytest.approx(1.0)  # std 1 and 10
    assert head.baseline(train, values_samples([[2.0, 25.0]]), (8, 8))["mae_gy"] == pytest.approx(5.0)
    answer = head.predict(out, batch, (8, 8))[0]
    assert head.record(answer) == {"values": {"gx": 3.0, "gy": 10.0}}
    whole = (torch.zeros(1, 2), torch.full((1, 2), 8.0))
    torch.testing.assert_close(torch.jit.script(head.deploy_layer())(out, *whole), torch.tensor([[3.0, 10.0]]))
    assert heads.from_state(head.state()).state() == head.state()


def test_scalar_head_is_bounded_and_l1_by_default():
    head = ScalarHead("age", y_range=(0, 100), index=1)
    layer = head.output_layer()
    assert layer(torch.full((2, 1), 50.0)).shape == (2,) and float(layer(torch.full((1, 1), 50.0))[0]) <= 100
    batch = {"values": torch.tensor([[9.0, 30.0], [9.0, 40.0]])}
    out = torch.tensor([32.0, 36.0])
    assert head.loss_name == "l1" and head.loss(out, batch) == pytest.approx(0.03)  # in units of the range
    assert head.metrics({k: float(v) for k, v in head.batch_stats(out, batch, (8, 8)).items()})["mae"] == 3.0
    assert head.record(np.float32(31.25)) == {"age": 31.25}
    base = head.baseline(values_samples([[0, 20], [0, 40]]), values_samples([[0, 35]]), (8, 8))
    assert base["mae"] == pytest.approx(5.0)


def test_binary_head_names_its_label():
    head = BinaryHead("gender", labels=["male", "female"])
    batch = {"labels": torch.tensor([[1.0], [0.0]])}
    logits = torch.tensor([3.0, 1.0])
    assert head.loss(logits, batch) == pytest.approx(F.binary_cross_entropy_with_logits(
        logits, torch.tensor([1.0, 0.0])).item(), rel=1e-6)
    assert head.metrics({k: float(v) for k, v in head.batch_stats(logits, batch, (8, 8)).items()})["accuracy"] == 0.5
    rec = head.record(np.float32(0.93))
    assert rec == {"gender": "female", "probabilities": {"female": pytest.approx(0.93)}}
    train = [Sample("x", (8, 8), labels=np.array([v], np.float32)) for v in (1, 1, 0)]
    assert head.baseline(train, train, (8, 8))["accuracy"] == pytest.approx(2 / 3)


def test_class_head_top5_and_label_smoothing():
    vocab = [f"c{i}" for i in range(7)]
    head = ClassHead(vocab=vocab, label_smoothing=0.1)
    logits = torch.arange(7.0).repeat(2, 1)  # c6 first, then c5, ...
    batch = {"label": torch.tensor([6, 1])}
    assert head.loss(logits, batch) == pytest.approx(F.cross_entropy(logits, batch["label"], label_smoothing=0.1).item())
    m = head.metrics({k: float(v) for k, v in head.batch_stats(logits, batch, (8, 8)).items()})
    assert m == {"accuracy": 0.5, "top5": 0.5}  # c1 is sixth
    rec = head.record(torch.softmax(logits[0], 0).numpy())
    assert rec["label"] == "c6" and [c for c, _ in rec["top5"]] == ["c6", "c5", "c4", "c3", "c2"]
    train = [Sample("x", (8, 8), label=i) for i in (2, 2, 3)]
    assert head.baseline(train, [Sample("x", (8, 8), label=2)], (8, 8)) == {"accuracy": 1.0, "top5": 1.0}
    with pytest.raises(Exception, match="label_smoothing"):
        ClassHead(vocab=vocab, label_smoothing=1.5)
