"""The heatmap keypoint head's parts: the network's output layout, DSNT's Jensen-Shannon
term, the flip test on maps, scores in records and ``min_score``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastkp.errors import UsageError
from fastkp.heads import KeypointHead
from fastkp.heads.heatmaps import cell_centres, gaussian_targets, js_divergence, mirror_maps
from fastkp.heads.networks import HeatmapNet, deconvolutions
from fastkp.model import FastkpModel


def test_the_network_ends_at_stride_8_with_points_scores_and_maps():
    assert [deconvolutions(s) for s in (32, 16, 8, 4, 30)] == [2, 1, 0, 0, 2]
    head = KeypointHead(n_keypoints=4, head_type="heatmap")
    model = FastkpModel("resnet18", [head], (96, 128)).eval()
    assert head.heatmap_hw == (12, 16) and isinstance(model.heads[0], HeatmapNet)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 96, 128))[0]
    assert out.shape == (2, 4, 3 + 12 * 16)
    maps = out[..., 3:].double()
    p = torch.softmax(maps, -1)  # beta 1: the op's softmax
    xs, ys = cell_centres(16, p.device).double(), cell_centres(12, p.device).double()
    grid = p.view(2, 4, 12, 16)
    torch.testing.assert_close(out[..., 0].double(), (grid.sum(2) * xs).sum(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[..., 1].double(), (grid.sum(3) * ys).sum(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[..., 2].double(), p.amax(-1), atol=1e-6, rtol=0)


def test_gaussian_targets_peak_at_the_target():
    target = torch.tensor([[[cell_centres(16, "cpu")[5], cell_centres(12, "cpu")[7]]]])
    q = gaussian_targets(target, (12, 16))
    assert q.shape == (1, 1, 192) and math.isclose(float(q.sum()), 1.0, rel_tol=1e-6)
    assert int(q.argmax()) == 7 * 16 + 5


def test_js_is_zero_at_the_gaussian_and_counts_visible_points_only():
    target = torch.tensor([[[0.1, -0.3], [0.5, 0.5]]])
    q = gaussian_targets(target, (8, 8))
    both = torch.ones(1, 2, dtype=torch.bool)
    assert float(js_divergence(q.log(), 1.0, target, both, (8, 8))) < 1e-6
    flat = torch.zeros(1, 2, 64)
    far = js_divergence(flat, 1.0, target, both, (8, 8))
    assert 0 < float(far) <= math.log(2)
    first_only = torch.tensor([[True, False]])
    mixed = torch.stack([q[0, 0].log(), flat[0, 1]])[None]  # the invisible point's map is ignored
    assert float(js_divergence(mixed, 1.0, target, first_only, (8, 8))) < 1e-6


def test_the_loss_needs_the_maps_the_network_was_built_for():
    head = KeypointHead(n_keypoints=1, head_type="heatmap")
    head.heatmap_hw = (4, 4)
    batch = {"keypoints": torch.zeros(1, 1, 2), "visible": torch.ones(1, 1, dtype=torch.bool)}
    assert float(head.loss(torch.zeros(1, 1, 3 + 16), batch)) > 0
    with pytest.raises(UsageError, match="do not match"):
        head.loss(torch.zeros(1, 1, 3 + 25), batch)


def test_flip_average_mirrors_points_and_maps():
    head = KeypointHead(n_keypoints=2, flip_index=[1, 0], head_type="heatmap")
    head.heatmap_hw = (2, 3)
    maps = torch.arange(12.0).view(1, 2, 6)
    out = torch.cat([torch.tensor([[[0.2, 0.1, 0.9], [-0.4, 0.3, 0.5]]]), maps], -1)
    mirrored = torch.cat([torch.tensor([[[0.4, 0.3, 0.5], [-0.2, 0.1, 0.9]]]), maps.flip(1)], -1)
    avg = head.flip_average(out, mirrored)
    torch.testing.assert_close(avg[..., :3], out[..., :3])  # the mirror's points, brought back, agree
    torch.testing.assert_close(mirror_maps(maps, (2, 3))[0, 0], torch.tensor([2.0, 1, 0, 5, 4, 3]))
    torch.testing.assert_close(avg[..., 3:], (maps + mirror_maps(maps, (2, 3))) / 2)


def test_records_carry_scores_and_min_score_blanks_points():
    head = KeypointHead(n_keypoints=2, names=["a", "b"], head_type="heatmap")
    answer = np.array([[10.0, 20.0, 0.9], [30.0, 40.0, 0.2]], np.float32)
    assert head.record(answer) == {"keypoints": [[10.0, 20.0], [30.0, 40.0]], "score": [0.9, 0.2],
                                   "names": ["a", "b"]}
    blanked = head.blank_below(answer, 0.5)
    assert head.record(blanked)["keypoints"] == [[10.0, 20.0], [None, None]]
    assert head.record(blanked)["score"] == [0.9, 0.2] and answer[1, 0] == 30.0  # the input is left as it was
    regression = KeypointHead(n_keypoints=2)
    assert regression.blank_below(answer[:, :2], 0.5) is not None and not regression.scores
