"""Matrix math, augmentation draws and epoch plans shared by both loaders (no decoding)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fastkp.data import Sample
from fastkp.pipeline import AugConfig, resize_matrix
from fastkp.pipeline.augment import draw, no_augmentation
from fastkp.pipeline.codec import denormalize_points, normalize_points
from fastkp.pipeline.geometry import compose, invert, transform_points
from fastkp.pipeline.plan import EpochPlanner

OUT = (60, 80)
OFF = AugConfig(do_flip=False, p_affine=0.0, p_lighting=0.0)


def samples(n: int, k: int = 3, labels: bool = False, hw=(120, 160)) -> list[Sample]:
    rng = np.random.default_rng(n)
    return [Sample(f"img{i}.jpg", hw, rng.uniform(10, 100, (k, 2)).astype(np.float32),
                   np.eye(4, dtype=np.float32)[i % 4] if labels else None) for i in range(n)]


def planner(items, **kw) -> EpochPlanner:
    args = dict(size=OUT, batch_size=4, train=True, aug=None, seed=0, shard_id=0, num_shards=1,
                flip_index=None)
    return EpochPlanner(items, **{**args, **kw})


def test_resize_matrix_uses_pixel_corners():
    m = resize_matrix((480, 640), (240, 320))
    pts = np.array([[0.0, 0.0], [640.0, 480.0], [0.5, 0.5], [320.0, 240.0]])
    np.testing.assert_allclose(transform_points(m, pts), [[0, 0], [320, 240], [0.25, 0.25], [160, 120]])
    # squash, no letterbox: corners map to corners whatever the aspect ratio
    np.testing.assert_allclose(transform_points(resize_matrix((100, 50), OUT), np.array([[50.0, 100.0]])),
                               [[80, 60]])


def test_normalisation_is_fastai_convention():
    pts = np.array([[0.0, 0.0], [80.0, 60.0], [40.0, 30.0], [0.5, 0.5]])
    norm = normalize_points(pts, OUT)
    np.testing.assert_allclose(norm[:3], [[-1, -1], [1, 1], [0, 0]])
    np.testing.assert_allclose(norm[3], [2 * 0.5 / 80 - 1, 2 * 0.5 / 60 - 1])
    np.testing.assert_allclose(denormalize_points(norm, OUT), pts)


def test_compose_and_invert():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5, 2, 3))
    pts = rng.normal(size=(5, 4, 2))
    np.testing.assert_allclose(transform_points(compose(a, b), pts),
                               transform_points(a, transform_points(b, pts)))
    np.testing.assert_allclose(transform_points(invert(a), transform_points(a, pts)), pts, atol=1e-9)


@pytest.mark.parametrize("field, value", [
    ("max_rotate", -1.0), ("min_zoom", 0.0), ("max_zoom", 0.5), ("max_warp", 1.0),
    ("max_lighting", 1.0), ("p_affine", 1.5), ("p_lighting", -0.1), ("min_scale", 0.0),
    ("min_scale", 1.5), ("pad_mode", "reflection"), ("do_flip", 1),
])
def test_augconfig_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        AugConfig(**{field: value})


def test_augconfig_defaults_follow_fastai():
    cfg = AugConfig()
    assert (cfg.do_flip, cfg.max_rotate, cfg.min_zoom, cfg.max_zoom) == (True, 10.0, 1.0, 1.1)
    assert cfg.max_warp == 0.2
    assert (cfg.max_lighting, cfg.p_affine, cfg.p_lighting, cfg.min_scale, cfg.pad_mode) == (
        0.2, 0.75, 0.75, 1.0, "border")


def test_no_draw_is_the_resize():
    src = np.array([[120, 160], [90, 200]])
    d = draw(np.random.default_rng(0), src, OUT, OFF)
    np.testing.assert_allclose(d.matrix, resize_matrix(src, OUT), atol=1e-12)
    np.testing.assert_allclose(no_augmentation(src, OUT).matrix, resize_matrix(src, OUT))
    assert not d.flipped.any() and np.all(d.contrast == 1) and np.all(d.brightness == 0)


@pytest.mark.parametrize("off", [
    dict(max_rotate=0.0), dict(max_warp=0.0), dict(min_zoom=1.0, max_zoom=1.0), dict(p_affine=0.0),
    dict(max_lighting=0.0), dict(p_lighting=0.0), dict(min_scale=1.0), dict(do_flip=False),
], ids=lambda off: ",".join(off))
def test_boundary_settings_draw_the_same_randoms(off):
    """A setting turned off still draws (and discards) its randoms, so that the other
    draws, and every draw of the default settings, stay the same."""
    src = np.array([[120, 160], [90, 200]] * 8)
    rng, default_rng = np.random.default_rng(5), np.random.default_rng(5)
    d = draw(rng, src, OUT, AugConfig(**off))
    draw(default_rng, src, OUT, AugConfig())
    assert rng.bit_generator.state == default_rng.bit_generator.state
    assert np.isfinite(d.matrix).all() and np.isfinite(d.contrast).all()


def test_everything_off_draws_the_resize():
    cfg = AugConfig(do_flip=False, max_rotate=0.0, min_zoom=1.0, max_zoom=1.0, max_warp=0.0,
                    max_lighting=0.0, min_scale=1.0, p_affine=1.0, p_lighting=1.0)
    src = np.array([[120, 160], [90, 200], [37, 53]] * 4)
    d = draw(np.random.default_rng(6), src, OUT, cfg)
    np.testing.assert_allclose(d.matrix, resize_matrix(src, OUT), rtol=0, atol=1e-12)
    assert not d.flipped.any() and np.all(d.contrast == 1) and np.all(d.brightness == 0)


def test_rotation_is_rigid_in_output_pixels():
    cfg = dataclasses.replace(OFF, max_rotate=30.0, p_affine=1.0, max_warp=0.0, max_zoom=1.0)
    src = np.array([[OUT[0], OUT[1]]] * 50)  # source already at output size: no squash
    a = draw(np.random.default_rng(1), src, OUT, cfg).matrix[:, :, :2]
    np.testing.assert_allclose(a @ np.swapaxes(a, 1, 2), np.broadcast_to(np.eye(2), a.shape), atol=1e-12)
    angles = np.degrees(np.arctan2(a[:, 1, 0], a[:, 0, 0]))
    assert np.abs(angles).max() <= 30 and np.abs(angles).max() > 20


def test_zoom_in_keeps_the_view_inside_the_image():
    cfg = dataclasses.replace(OFF, min_zoom=1.2, max_zoom=2.0, p_affine=1.0, max_rotate=0.0, max_warp=0.0)
    src = np.array([[120, 160]] * 200)
    m = draw(np.random.default_rng(2), src, OUT, cfg).matrix
    corners = np.array([[0.0, 0.0], [80.0, 60.0]])
    back = transform_points(invert(m), corners)  # output frame corners in the source
    assert np.all(back >= -1e-9) and np.all(back <= np.array([160, 120]) + 1e-9)
    scale = m[:, 0, 0] * 160 / 80
    assert scale.min() >= 1.2 - 1e-9 and scale.max() <= 2.0 + 1e-9


def test_crop_window_follows_min_scale():
    cfg = dataclasses.replace(OFF, min_scale=0.25)
    src = np.array([[120, 160]] * 300)
    m = draw(np.random.default_rng(3), src, OUT, cfg).matrix
    back = transform_points(invert(m), np.array([[0.0, 0.0], [80.0, 60.0]]))
    w, h = back[:, 1, 0] - back[:, 0, 0], back[:, 1, 1] - back[:, 0, 1]
    area = w * h / (160 * 120)
    np.testing.assert_allclose(w / h, 160 / 120)  # the image's aspect ratio
    assert area.min() >= 0.25 - 1e-9 and area.max() <= 1 + 1e-9 and area.min() < 0.4
    assert np.all(back >= -1e-9) and np.all(back <= np.array([160, 120]) + 1e-9)


def test_lighting_draw_ranges():
    cfg = dataclasses.replace(OFF, p_lighting=1.0, max_lighting=0.4)
    d = draw(np.random.default_rng(4), np.array([[10, 10]] * 500), OUT, cfg)
    assert np.abs(d.brightness).max() <= 0.2 and np.abs(d.brightness).max() > 0.15
    assert d.contrast.min() >= 0.6 - 1e-12 and d.contrast.max() <= 1 / 0.6 + 1e-12


def test_flip_mirrors_points_and_permutes_with_flip_index():
    items = samples(16, k=3)
    cfg = dataclasses.replace(OFF, do_flip=True)
    plain = next(planner(items, aug=cfg, batch_size=16).epoch(0))
    perm = next(planner(items, aug=cfg, batch_size=16, flip_index=[1, 0, 2]).epoch(0))
    idx = plain.targets["index"]
    src = np.stack([items[i].keypoints for i in idx])
    expect = transform_points(resize_matrix((120, 160), OUT), src.astype(np.float64))
    flipped = plain.targets["matrix"][:, 0, 0] < 0
    assert flipped.any() and (~flipped).any()
    expect[flipped, :, 0] = 80 - expect[flipped, :, 0]  # mirror x
    got = denormalize_points(plain.targets["keypoints"], OUT)
    np.testing.assert_allclose(got, expect, atol=1e-4)
    swapped = expect.copy()
    swapped[flipped] = expect[flipped][:, [1, 0, 2]]  # left stays left
    np.testing.assert_allclose(denormalize_points(perm.targets["keypoints"], OUT), swapped, atol=1e-4)


def test_visibility_and_unlabelled_points():
    items = samples(8, k=2)
    items[0].keypoints[1] = np.nan
    items[1].keypoints[0] = (-5.0, 10.0)  # outside the source image
    plan = next(planner(items, aug=OFF, batch_size=8, train=False).epoch(0))
    vis, kp = plan.targets["visible"], plan.targets["keypoints"]
    assert not vis[0, 1] and not vis[1, 0] and vis.sum() == 14
    assert np.all(kp[~vis] == 0) and np.all(np.isfinite(kp))
    assert np.all(np.abs(kp[vis]) <= 1)
    # zoomed in hard, points near the edge leave the frame
    strong = dataclasses.replace(OFF, min_zoom=3.0, max_zoom=3.0, p_affine=1.0, max_rotate=0, max_warp=0)
    plan = next(planner(samples(32), aug=strong, batch_size=32).epoch(0))
    out = transform_points(plan.targets["matrix"].astype(np.float64),
                           np.stack([samples(32)[i].keypoints for i in plan.targets["index"]]))
    inside = (out[..., 0] >= 0) & (out[..., 0] <= 80) & (out[..., 1] >= 0) & (out[..., 1] <= 60)
    np.testing.assert_array_equal(plan.targets["visible"], inside)
    assert inside.any() and (~inside).any()


@pytest.mark.parametrize("n, bs, shards", [(23, 3, 3), (10, 4, 1), (9, 4, 2), (5, 5, 1), (4, 1, 4)])
def test_every_epoch_sees_every_training_sample_in_full_batches(n, bs, shards):
    """The shards split the epoch's order; each completes its last batch from the start of
    its block, so no sample is left out of any epoch and every batch is full."""
    items = samples(n)
    plans = [planner(items, batch_size=bs, shard_id=s, num_shards=shards) for s in range(shards)]
    steps = -(-(-(-n // shards)) // bs)
    assert [len(p) for p in plans] == [steps] * shards
    for epoch in (0, 5):
        batches = [b for p in plans for b in p.epoch(epoch)]
        assert all(len(b.paths) == bs for b in batches)
        seen = np.concatenate([b.targets["index"] for b in batches]).tolist()
        assert sorted(set(seen)) == list(range(n))
        assert len(seen) - n < shards * bs  # what completes the last batches, no more


def test_validation_shards_cover_every_sample_once_with_partial_batches():
    items = samples(10)
    for shards in (1, 3, 4):
        plans = [planner(items, batch_size=3, train=False, shard_id=s, num_shards=shards)
                 for s in range(shards)]
        batches = [b for p in plans for b in p.epoch(0)]
        seen = np.concatenate([b.targets["index"] for b in batches])
        assert sorted(seen.tolist()) == list(range(10))
        assert sum(len(p) for p in plans) == len(batches)
        assert all(np.array_equal(b.targets["matrix"][0], resize_matrix((120, 160), OUT)) for b in batches)


def test_epochs_are_deterministic_per_seed_and_reshuffled():
    def first(seed, epoch):
        return next(planner(samples(40), seed=seed).epoch(epoch))
    a, b = first(0, 0), first(0, 0)
    np.testing.assert_array_equal(a.targets["index"], b.targets["index"])
    np.testing.assert_array_equal(a.targets["matrix"], b.targets["matrix"])
    np.testing.assert_array_equal(a.scale, b.scale)
    assert not np.array_equal(a.targets["index"], first(0, 1).targets["index"])
    assert not np.array_equal(a.targets["matrix"], first(1, 0).targets["matrix"])


def test_augmentation_of_a_sample_does_not_depend_on_its_shard():
    items = samples(24)
    one = {int(i): m for b in planner(items, batch_size=2).epoch(3)
           for i, m in zip(b.targets["index"], b.targets["matrix"])}
    for s in range(2):
        for b in planner(items, batch_size=2, shard_id=s, num_shards=2).epoch(3):
            for i, m in zip(b.targets["index"], b.targets["matrix"]):
                np.testing.assert_array_equal(m, one[int(i)])


def test_decode_window_covers_what_the_output_samples():
    cfg = AugConfig(max_rotate=30, min_zoom=0.7, max_zoom=1.5, p_affine=1.0, min_scale=0.3)
    for plan in planner(samples(64), aug=cfg, batch_size=8).epoch(0):
        back = transform_points(invert(plan.targets["matrix"].astype(np.float64)),
                                np.array([[0.5, 0.5], [79.5, 0.5], [0.5, 59.5], [79.5, 59.5]]))
        lo, size = plan.roi_anchor, plan.roi_shape
        assert np.all(lo >= 0) and np.all(lo + size <= [160, 120]) and np.all(size > 0)
        clipped = np.clip(back, 0, [160, 120])
        assert np.all(clipped >= lo[:, None] - 1e-6) and np.all(clipped <= (lo + size)[:, None] + 1e-6)
        # the warp from the window is the warp from the image, shifted
        m = plan.targets["matrix"]
        shifted = m[:, :, 2] + np.einsum("bij,bj->bi", m[:, :, :2], lo)
        np.testing.assert_allclose(plan.roi_matrix[:, :, 2], shifted, rtol=1e-5, atol=1e-3)


def test_labels_pass_through():
    items = samples(8, labels=True)
    plan = next(planner(items, batch_size=8, train=False).epoch(0))
    np.testing.assert_array_equal(plan.targets["labels"], np.stack([s.labels for s in items]))


@pytest.mark.parametrize("kw, match", [
    (dict(size=(0, 10)), "size"), (dict(size=(10,)), "size"), (dict(batch_size=0), "batch_size"),
    (dict(num_shards=0), "num_shards"), (dict(shard_id=2, num_shards=2), "shard_id"),
    (dict(flip_index=[0, 0, 1]), "flip_index"), (dict(flip_index=[1, 0]), "flip_index"),
    (dict(batch_size=64), "batch"), (dict(aug={"max_rotate": 5}), "aug"),
])
def test_bad_arguments_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        planner(samples(8), **kw)


def test_inconsistent_samples_raise():
    items = samples(4)
    items[2] = Sample("x.jpg", (120, 160), None)
    with pytest.raises(ValueError, match="keypoints"):
        planner(items)
    items = samples(4)
    items[1] = Sample("x.jpg", (120, 160), np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match="keypoints"):
        planner(items)
    with pytest.raises(ValueError, match="size"):
        planner([Sample("x.jpg", (0, 10))] * 4)
