"""What every registered head promises the learner, the loaders and the exporter: the
abstract methods implemented, batch keys the loaders make, losses the CLI offers, and the
flip test only where the head supports it."""

from __future__ import annotations

import inspect

import pytest

from fastkp import heads
from fastkp.errors import UsageError
from fastkp.heads import Head, KeypointHead, MultiLabelHead
from fastkp.pipeline.plan import TARGETS
from fastkp.train import get_args_parser


@pytest.mark.parametrize("kind", heads.kinds())
def test_every_head_implements_the_contract(kind):
    cls = heads._KINDS[kind]
    assert not inspect.isabstract(cls), sorted(cls.__abstractmethods__)
    assert set(cls.batch_keys) <= set(TARGETS)
    assert cls.losses and cls.monitor


def test_a_head_missing_a_method_cannot_be_made():
    class Half(Head):
        kind, losses, directions, monitor, batch_keys = "half", ("mse",), {"x": "min"}, "x", ()

    with pytest.raises(TypeError, match="abstract"):
        Half("half")


def test_the_cli_offers_every_registered_loss():
    choices = next(a.choices for a in get_args_parser()._actions if a.dest == "loss")
    assert list(choices) == heads.loss_names()
    assert {"mse", "l1", "smooth_l1", "bce_with_logits", "cross_entropy"} == set(choices)


def test_flip_support_is_the_heads_own():
    with_flip = KeypointHead(n_keypoints=2, flip_index=[1, 0])
    assert with_flip.supports_flip
    with_flip.check_flip()
    for head in (KeypointHead(n_keypoints=2), MultiLabelHead(vocab=["a", "b"])):
        assert not head.supports_flip
        with pytest.raises(UsageError, match="flip permutation") as e:
            head.flip_average(None, None)
        assert e.value.setting == "tta"
