"""The DALI loader and the reference loader: pixels follow points, same draws, batch format."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fastkp.data import Sample
from fastkp.errors import UsageError
from fastkp.pipeline import AugConfig, build_loader, resize_matrix, transform_points
from fastkp.pipeline import reference
from fastkp.pipeline.codec import normalize_points
from support.loaders import LOADERS, OUT, STRONG, check_dots, dot_image

OFF = AugConfig(do_flip=False, p_affine=0.0, p_lighting=0.0)


@pytest.fixture(scope="module")
def dots(tmp_path_factory) -> list[Sample]:
    root = tmp_path_factory.mktemp("dots")
    out = []
    for i, hw in enumerate([(120, 160), (160, 120), (100, 150), (120, 160)] * 2):
        h, w = hw
        pts = np.array([[0.25 * w, 0.3 * h], [0.75 * w, 0.3 * h], [0.5 * w, 0.75 * h]], np.float32)
        pts += np.float32(np.random.default_rng(i).uniform(-3, 3, (3, 2)))
        path = root / f"dot{i}.{'jpg' if i == 3 else 'png'}"
        Image.fromarray(dot_image(hw, pts)).save(path, quality=95)
        out.append(Sample(str(path), hw, pts))
    return out


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Sample]:
    """Smooth random 'photos' with labels and two keypoints."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    out = []
    for i in range(10):
        hw = (96, 128) if i % 3 else (128, 96)
        small = rng.integers(0, 256, (hw[0] // 8, hw[1] // 8, 3), dtype=np.uint8)
        path = root / f"photo{i}.jpg"
        Image.fromarray(small).resize(hw[::-1], Image.BICUBIC).save(path, quality=90)
        pts = rng.uniform(5, 90, (2, 2)).astype(np.float32)
        out.append(Sample(str(path), hw, pts, np.float32(rng.random(3) < 0.5)))
    return out


@pytest.mark.parametrize("kind", LOADERS)
def test_dots_land_on_the_emitted_keypoints(dots, kind):
    loader = LOADERS[kind](dots, size=OUT, batch_size=4, aug=STRONG, seed=1, flip_index=[1, 0, 2],
                           num_threads=2 if kind == "dali" else 0)
    assert check_dots(dots, loader, epochs=2) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("aug", [AugConfig(), dataclasses.replace(STRONG, pad_mode="constant")],
                         ids=["default", "strong-constant"])
def test_dots_at_full_size(tmp_path, kind, aug):
    """640x480 sources to the default (240, 320) output, as in training."""
    samples = []
    for i in range(24):
        rng = np.random.default_rng(i)
        pts = np.array([[160.0, 150.0], [480.0, 150.0], [320.0, 360.0]], np.float32)
        pts += np.float32(rng.uniform(-40, 40, (3, 2)))
        path = tmp_path / f"big{i}.jpg"
        Image.fromarray(dot_image((480, 640), pts, sigma=4.0)).save(path, quality=95)
        samples.append(Sample(str(path), (480, 640), pts))
    loader = LOADERS[kind](samples, batch_size=8, aug=aug, seed=3, flip_index=[1, 0, 2],
                           num_threads=2)
    assert check_dots(samples, loader, epochs=2) >= 60


@pytest.mark.parametrize("aug", [STRONG, AugConfig(), dataclasses.replace(STRONG, pad_mode="constant")],
                         ids=["strong", "default", "constant"])
def test_loaders_draw_the_same_and_agree_on_pixels(photos, aug):
    kw = dict(size=OUT, batch_size=3, aug=aug, seed=7, flip_index=[1, 0])
    dali = build_loader(photos, **kw)
    ref = reference.build_loader(photos, num_threads=2 if aug is STRONG else 0, **kw)
    assert len(dali) == len(ref) == 4  # 10 samples: every one each epoch, the last batch completed
    for _ in range(2):
        n = 0
        for a, b in zip(dali, ref):
            assert list(a) == list(b) == ["images", "keypoints", "visible", "points_px", "visibility", "image_id",
                                          "labels", "index", "matrix"]
            for key in ("keypoints", "visible", "labels", "index", "matrix"):
                assert a[key].dtype == b[key].dtype
                torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
            for img in (a["images"], b["images"]):
                assert img.shape == (3, 3, *OUT) and img.dtype == torch.float32
                assert img.is_contiguous(memory_format=torch.channels_last)
            diff = (a["images"] - b["images"]).abs()
            assert diff.max() < 0.05 and diff.mean() < 0.01  # ~2.5 and 0.5 grey levels
            n += 1
        assert n == 4


def test_emitted_matrix_and_flip_index_reproduce_the_keypoints(photos):
    loader = build_loader(photos, size=OUT, batch_size=5, aug=STRONG, seed=3, flip_index=[1, 0])
    flips = 0
    for batch in loader:
        m = batch["matrix"].numpy().astype(np.float64)
        src = np.stack([photos[i].keypoints for i in batch["index"]]).astype(np.float64)
        flipped = np.linalg.det(m[:, :, :2]) < 0
        src[flipped] = src[flipped][:, [1, 0]]
        flips += flipped.sum()
        out = transform_points(m, src)
        vis = batch["visible"].numpy()
        inside = (out[..., 0] >= 0) & (out[..., 0] <= OUT[1]) & (out[..., 1] >= 0) & (out[..., 1] <= OUT[0])
        np.testing.assert_array_equal(vis, inside)
        np.testing.assert_allclose(batch["keypoints"].numpy()[vis], normalize_points(out, OUT)[vis],
                                   atol=1e-6)
        assert np.all(batch["keypoints"].numpy()[~vis] == 0)
    assert flips > 0


def test_flip_mirrors_the_pixels(photos):
    val = {int(i): img for b in build_loader(photos, size=OUT, batch_size=5, train=False)
           for i, img in zip(b["index"], b["images"])}
    flipped = 0
    for batch in build_loader(photos, size=OUT, batch_size=5, aug=dataclasses.replace(OFF, do_flip=True)):
        for i, img, m in zip(batch["index"], batch["images"], batch["matrix"]):
            want = val[int(i)].flip(-1) if m[0, 0] < 0 else val[int(i)]
            flipped += int(m[0, 0] < 0)
            assert (img - want).abs().max() < 0.03
    assert flipped > 0


def test_validation_epochs_are_exact_across_shards(photos):
    seen, sizes = [], []
    for shard in range(3):
        loader = build_loader(photos, size=OUT, batch_size=3, train=False, shard_id=shard, num_shards=3)
        batches = list(loader)
        assert len(batches) == len(loader)
        for b in batches:
            seen += b["index"].tolist()
            sizes.append(len(b["index"]))
            assert b["images"].shape[0] == len(b["index"])
            for i, m in zip(b["index"], b["matrix"]):
                np.testing.assert_allclose(m.numpy(), resize_matrix(photos[i].size, OUT), rtol=1e-6)
    assert sorted(seen) == list(range(len(photos)))
    assert sizes == [3, 1, 3, 3]  # shards of 4, 3 and 3 samples: the partial batch is kept
    empty = build_loader(photos[:2], size=OUT, batch_size=3, train=False, shard_id=2, num_shards=3)
    assert len(empty) == 0 and list(empty) == []


def test_training_epochs_are_deterministic_and_reshuffled(photos):
    def epochs(loader, n=2):
        return [[{k: v.clone() for k, v in b.items()} for b in loader] for _ in range(n)]

    kw = dict(size=OUT, batch_size=4, aug=STRONG, seed=11)
    a, b = epochs(build_loader(photos, **kw)), epochs(build_loader(photos, **kw))
    for ea, eb in zip(a, b):
        for x, y in zip(ea, eb):
            for key in x:
                assert torch.equal(x[key], y[key]), key
    assert not torch.equal(a[0][0]["index"], a[1][0]["index"])
    loader = build_loader(photos, **kw)
    loader.set_epoch(1)
    assert torch.equal(next(iter(loader))["images"], a[1][0]["images"])
    other = epochs(build_loader(photos, **{**kw, "seed": 12}), 1)
    assert not torch.equal(other[0][0]["matrix"], a[0][0]["matrix"])


def test_training_shards_stay_in_step(photos):
    lens = [len(build_loader(photos, size=OUT, batch_size=2, shard_id=s, num_shards=3)) for s in range(3)]
    assert lens == [2, 2, 2]  # shares of 4, 3 and 3 samples: two full batches of 2 each
    batches = [list(build_loader(photos, size=OUT, batch_size=2, shard_id=s, num_shards=3))
               for s in range(3)]
    idx = [i for shard in batches for b in shard for i in b["index"].tolist()]
    assert len(idx) == 12 and sorted(set(idx)) == list(range(10)) and all(len(shard) == 2 for shard in batches)


def test_abandoned_epoch_then_next_epoch_is_whole(photos):
    kw = dict(size=OUT, batch_size=3, aug=STRONG, seed=5)
    loader = build_loader(photos, **kw)
    next(iter(loader))  # abandon epoch 0 with batches in flight
    second = list(loader)
    fresh = build_loader(photos, **kw)
    fresh.set_epoch(1)
    expected = list(fresh)
    assert len(second) == len(expected) == 4
    for x, y in zip(second, expected):
        assert torch.equal(x["index"], y["index"]) and torch.equal(x["images"], y["images"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_images(photos, dtype):
    kw = dict(size=OUT, batch_size=5, train=False)
    full = next(iter(build_loader(photos, **kw)))["images"]
    for loader in (build_loader(photos, dtype=dtype, **kw),
                   reference.build_loader(photos, dtype=dtype, num_threads=0, **kw)):
        img = next(iter(loader))["images"]
        assert img.dtype == dtype and img.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(img.float(), full, atol=0.05, rtol=0.02)


def test_images_without_targets(photos):
    bare = [Sample(s.path, s.size) for s in photos]
    batch = next(iter(build_loader(bare, size=OUT, batch_size=4)))
    assert list(batch) == ["images", "index", "matrix"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
@pytest.mark.parametrize("kind", LOADERS)
def test_cuda_without_a_gpu_is_a_clear_error(photos, kind):
    with pytest.raises(UsageError, match="device='cuda' needs a CUDA GPU"):
        LOADERS[kind](photos, device="cuda", batch_size=2)


def test_bad_device_and_dtype(photos):
    with pytest.raises(ValueError, match="device"):
        build_loader(photos, device="tpu", batch_size=2)
    with pytest.raises(ValueError, match="dtype"):
        build_loader(photos, dtype=torch.int32, batch_size=2)


@pytest.mark.parametrize("bad", [
    dict(size=(0, 10)), dict(size=(10,)), dict(batch_size=0), dict(batch_size=2.5),
    dict(batch_size=64), dict(aug={"max_rotate": 5}), dict(device="tpu"), dict(dtype=torch.int32),
    dict(num_threads=-1), dict(num_threads=1.5), dict(seed=-1), dict(seed=0.5),
    dict(shard_id=1), dict(shard_id=-1, num_shards=2), dict(num_shards=0), dict(flip_index=[0, 0]),
    dict(flip_index=[0, 1, 2]),
], ids=lambda bad: ",".join(f"{k}={v}" for k, v in bad.items()))
def test_both_loaders_reject_a_bad_argument_alike(photos, bad):
    errors = []
    for build in LOADERS.values():
        with pytest.raises(ValueError) as info:
            build(photos, **{"batch_size": 2, **bad})
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


def test_dali_needs_a_thread(photos):
    reference.build_loader(photos, batch_size=2, num_threads=0)  # in-process: no worker
    with pytest.raises(ValueError, match="num_threads must be a positive int for DALI"):
        build_loader(photos, batch_size=2, num_threads=0)


@pytest.mark.parametrize("kind", LOADERS)
def test_tilde_in_a_sample_path_is_the_home_folder(photos, monkeypatch, kind):
    home = Path(photos[0].path).parent
    monkeypatch.setenv("HOME", str(home))
    tilde = [dataclasses.replace(s, path=f"~/{Path(s.path).name}") for s in photos]
    kw = dict(size=OUT, batch_size=5, train=False, num_threads=2 if kind == "dali" else 0)
    for a, b in zip(LOADERS[kind](tilde, **kw), LOADERS[kind](photos, **kw)):
        assert torch.equal(a["images"], b["images"])


@pytest.mark.cuda
def test_cuda_loader_matches_cpu(photos):
    kw = dict(size=OUT, batch_size=3, aug=STRONG, seed=2, flip_index=[1, 0])
    for a, b in zip(build_loader(photos, device="cuda", **kw), build_loader(photos, **kw)):
        assert a["images"].is_cuda and a["images"].is_contiguous(memory_format=torch.channels_last)
        for key in ("keypoints", "visible", "labels", "index", "matrix"):
            assert torch.equal(a[key].cpu(), b[key])
        # nvJPEG may round differently from libjpeg-turbo: compare loosely
        assert (a["images"].cpu() - b["images"]).abs().mean() < 0.02


@pytest.mark.cuda
def test_cuda_dots_land_on_the_keypoints(dots):
    loader = build_loader(dots, size=OUT, batch_size=4, aug=STRONG, seed=1, flip_index=[1, 0, 2],
                          device="cuda", dtype=torch.float16)
    assert check_dots(dots, loader, epochs=2) >= 20
