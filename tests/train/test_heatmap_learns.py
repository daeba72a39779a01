"""One seeded run per head on the same generated landmarks: the heatmap head must learn
past a stated margin over the fastai regression head and the constant predictor (a
random body, 128 training faces of 64x64, 6 epochs)."""

from __future__ import annotations

from fastkp.data.synth import make_landmarks
from fastkp.learner import Learner

MARGIN = 0.7  # heatmap rmse_px at most this share of the regression head's and the constant's


def test_the_heatmap_head_learns_past_the_regression_head(tmp_path):
    root = make_landmarks(tmp_path / "faces", n_images=160, k=5, seed=0, size=(64, 64))
    best = {}
    for head in ("heatmap", "fastai"):
        learn = Learner.from_folder("keypoints", root, out=tmp_path / head, size=64, bs=16, head=head, seed=0,
                                    progress=False, threads=2)
        learn.fit(6, 3e-3)
        best[head] = min(h["rmse_px"] for h in learn.history)
        constant = learn.constant_baseline()["rmse_px"]
    assert best["heatmap"] < MARGIN * best["fastai"], best
    assert best["heatmap"] < MARGIN * constant, (best, constant)
