"""Each head on its own: loss, metrics, baseline, decoding, export entry, drawing; the registry
and the naming of several heads' fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from fastkp import heads
from fastkp.data import Sample
from fastkp.errors import UsageError
from fastkp.heads import KeypointHead, MultiLabelHead
from fastkp.heads.keypoints import SMOOTH_L1_BETA
from fastkp.pipeline import resize_matrix

VOCAB = ["cat", "dog", "person"]
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")


def point_batch(seed: int = 0, b: int = 4, k: int = 3) -> tuple[torch.Tensor, dict]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, k, 2, generator=g) * 2 - 1
    visible = torch.rand(b, k, generator=g) > 0.3
    pred = target + torch.randn(b, k, 2, generator=g) * 0.1
    return pred, {"keypoints": target * visible.unsqueeze(-1), "visible": visible}


@pytest.mark.parametrize("loss", ["mse", "l1", "smooth_l1"])
def test_point_losses_cover_visible_coordinates_only(loss):
    pred, batch = point_batch()
    head = KeypointHead(n_keypoints=3, loss=loss)
    vis = batch["visible"]
    p, t = pred[vis], batch["keypoints"][vis]
    want = {"mse": F.mse_loss(p, t), "l1": F.l1_loss(p, t),
            "smooth_l1": F.smooth_l1_loss(p, t, beta=SMOOTH_L1_BETA)}[loss]
    got = head.loss(pred.bfloat16(), batch)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-4)  # the prediction went through bf16
    torch.testing.assert_close(head.loss(pred, batch), want)


def test_loss_names_are_checked():
    with pytest.raises(UsageError, match="takes loss mse / l1 / smooth_l1, not 'huber'"):
        KeypointHead(n_keypoints=1, loss="huber")
    with pytest.raises(UsageError, match="no loss can be chosen"):
        MultiLabelHead(vocab=VOCAB, loss="l1")
    assert MultiLabelHead(vocab=VOCAB, loss="bce_with_logits").loss_name == "bce_with_logits"


def test_keypoint_metrics_in_pixels():
    head = KeypointHead(n_keypoints=2)
    target = torch.zeros(2, 2, 2)
    pred = target + torch.tensor([2 / 128, 0.0])  # one pixel right at width 128
    stats = head.batch_stats(pred, {"keypoints": target, "visible": torch.ones(2, 2, dtype=torch.bool)}, (96, 128))
    assert all(v.dim() == 0 for v in stats.values())  # sums: added over batches and ranks
    m = head.metrics({k: float(v) for k, v in stats.items()})
    assert m["rmse_px"] == pytest.approx(1.0) and m["rmse"] == pytest.approx(2 / 128 / 2**0.5)
    assert head.columns() == ["rmse", "rmse_px", "rmse_px_image", "nme", "pck",  # then the papers' metrics
                              "auc_0.08", "fr_0.08", "auc_0.1", "fr_0.1", "pck_0.1"]
    assert KeypointHead(n_keypoints=1).columns() == ["rmse", "rmse_px", "rmse_px_image"]


def test_image_pixels_undo_each_images_resize():
    """rmse_px_image: the input-pixel error mapped back through each image's matrix."""
    head = KeypointHead(n_keypoints=1)
    target = torch.zeros(2, 1, 2)
    pred = target + torch.tensor([2 / 128, 2 / 96])  # (1, 1) network-input pixel off
    matrix = torch.from_numpy(resize_matrix(np.array([[480, 640], [96, 64]]), (96, 128))).float()
    batch = {"keypoints": target, "visible": torch.ones(2, 1, dtype=torch.bool), "matrix": matrix}
    m = head.metrics({k: float(v) for k, v in head.batch_stats(pred, batch, (96, 128)).items()})
    want = np.sqrt(((5**2 + 5**2) + (0.5**2 + 1**2)) / 2)  # (5, 5) source px, then (0.5, 1)
    assert m["rmse_px"] == pytest.approx(2**0.5) and m["rmse_px_image"] == pytest.approx(want)


def test_multilabel_metrics_gather_per_image_arrays():
    head = MultiLabelHead(vocab=VOCAB, threshold=0.5)
    logits = torch.tensor([[5.0, -5.0, 5.0], [-5.0, 5.0, -5.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    stats = head.batch_stats(logits, {"labels": labels}, (64, 64))
    assert all(v.dim() == 2 for v in stats.values())
    m = head.metrics({k: v.numpy() for k, v in stats.items()})
    assert m["accuracy_multi"] == 1.0 and m["mAP"] == 1.0
    head.on_best({**m, "best_threshold": 0.35})
    assert head.threshold == 0.35
    assert head.loss(logits, {"labels": labels}) == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, labels).item(), rel=1e-6)


def samples(points: list[list[float]]) -> list[Sample]:
    return [Sample("x.jpg", (100, 200), keypoints=np.array([p], np.float32)) for p in points]


def test_baselines():
    kp = KeypointHead(n_keypoints=1)
    base = kp.baseline(samples([[50, 50], [150, 50]]), samples([[100, 50], [100, 50]]), (100, 200))
    assert base["rmse_px"] == pytest.approx(0.0, abs=1e-4)  # the mean training point is the answer
    ml = MultiLabelHead(vocab=VOCAB)
    train = [Sample("x", (8, 8), labels=np.array(v, np.float32)) for v in ([1, 0, 0], [1, 1, 0])]
    valid = [Sample("x", (8, 8), labels=np.array(v, np.float32)) for v in ([1, 0, 1], [0, 1, 0])]
    # frequencies (1, 0.5, 0) predict "cat" only at threshold 0.5: 2 + 1 of 6 decisions right
    assert ml.baseline(train, valid, (8, 8))["accuracy_multi"] == pytest.approx(3 / 6)


def test_points_decode_to_source_pixels_and_records():
    head = KeypointHead(n_keypoints=2)
    out = torch.tensor([[[0.0, 0.0], [-1.0, 1.0]]])  # centre, bottom-left corner
    batch = {"matrix": torch.from_numpy(resize_matrix((480, 640), (96, 128))).float()[None]}
    answer = head.predict(out, batch, (96, 128))
    np.testing.assert_allclose(answer[0], [[320, 240], [0, 480]], atol=1e-4)
    rec = head.record(np.array([[0.1, 1 / 3]], np.float32))
    assert rec == {"keypoints": [[0.1, 0.33333334]]}  # float32's shortest decimals, as fastkp-infer
    scripted = torch.jit.script(head.deploy_layer())
    whole = (torch.zeros(1, 2), torch.tensor([[640.0, 480.0]]))  # the window: the whole 640x480 image
    torch.testing.assert_close(scripted(out, *whole), torch.tensor([[[320.0, 240.0], [0.0, 480.0]]]))
    window = (torch.tensor([[100.0, 50.0]]), torch.tensor([[64.0, 32.0]]))  # a box's window
    torch.testing.assert_close(scripted(out, *window), torch.tensor([[[132.0, 66.0], [100.0, 82.0]]]))


def test_labels_decode_to_probabilities_and_records():
    head = MultiLabelHead(vocab=VOCAB, threshold=0.4)
    probs = head.predict(torch.tensor([[0.0, 2.0, -2.0]]), {}, (8, 8))
    np.testing.assert_allclose(probs[0], torch.sigmoid(torch.tensor([0.0, 2.0, -2.0])).numpy())
    rec = head.record(probs[0])
    assert rec["labels"] == ["cat", "dog"] and list(rec["probabilities"]) == VOCAB
    scripted = torch.jit.script(head.deploy_layer())
    torch.testing.assert_close(scripted(torch.zeros(1, 3), torch.zeros(1, 2), torch.full((1, 2), 8.0)), torch.full((1, 3), 0.5))


def test_state_and_export_entry_round_trip():
    kp = KeypointHead("face", n_keypoints=2, names=["l", "r"], flip_index=[1, 0], loss="l1", weight=0.5)
    ml = MultiLabelHead(vocab=VOCAB, threshold=0.3, head_type="linear")
    hm = KeypointHead("paws", n_keypoints=4, head_type="heatmap")
    hm.heatmap_hw = (12, 16)
    for head in (kp, ml, hm):
        again = heads.from_state(head.state())
        assert type(again) is type(head) and again.state() == head.state()
        assert heads.from_state(head.export_entry()).export_entry() == head.export_entry()
    assert kp.export_entry() == {"name": "face", "kind": "keypoints", "head_type": "fastai", "n_keypoints": 2,
                                 "y_range": [-1.0, 1.0], "names": ["l", "r"], "flip_index": [1, 0], "scores": False}
    assert ml.export_entry() == {"name": "labels", "kind": "multilabel", "head_type": "linear", "vocab": VOCAB,
                                 "threshold": 0.3}
    assert hm.export_entry()["scores"] and heads.from_state(hm.state()).heatmap_hw == (12, 16)
    # entries written before head types: the fastai network, no scores
    old = heads.from_state({"name": "k", "kind": "keypoints", "n_keypoints": 1, "y_range": [-1, 1]})
    assert (old.head_type, old.scores) == ("fastai", False)
    with pytest.raises(UsageError, match="heatmap"):
        MultiLabelHead(vocab=VOCAB, head_type="heatmap")
    with pytest.raises(UsageError, match="kind 'boxes'"):
        heads.from_state({"name": "b", "kind": "boxes"})


def test_bad_heads_are_refused():
    for make in (lambda: KeypointHead("a b", n_keypoints=1), lambda: KeypointHead(n_keypoints=0),
                 lambda: KeypointHead(n_keypoints=2, flip_index=[0]), lambda: MultiLabelHead(vocab=[]),
                 lambda: heads.check_names([KeypointHead(n_keypoints=1), KeypointHead(n_keypoints=2)])):
        with pytest.raises(UsageError):
            make()


def test_several_heads_merge_with_prefixes_only_on_clash():
    left, right = KeypointHead("left", n_keypoints=1), KeypointHead("right", n_keypoints=1)
    labels = MultiLabelHead(vocab=VOCAB)
    merged = heads.merge([left, right, labels], [{"keypoints": 1}, {"keypoints": 2}, {"labels": 3}])
    assert merged == {"left_keypoints": 1, "right_keypoints": 2, "labels": 3}
    assert heads.default_monitor([left, right]) == "left_rmse_px"
    assert heads.default_monitor([labels, left]) == "mAP"
    assert heads.directions([labels])["mAP"] == "max" and heads.directions([left])["valid_loss"] == "min"


def test_heads_draw_targets_and_predictions():
    pred, batch = point_batch(b=2)
    batch["labels"] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    ax = Figure().subplots()
    KeypointHead(n_keypoints=3).draw(ax, batch, 0, (32, 32), pred)
    MultiLabelHead(vocab=VOCAB).draw(ax, batch, 1, (32, 32), torch.tensor([[0.0, 0.0, 0.0], [9.0, -9.0, 9.0]]))
    assert [c.get_label() for c in ax.collections] == ["target", "prediction"]
    assert ax.get_title() == "dog; person\n→ cat; person"
