"""The keypoint codec: encode and decode are inverses through any matrix, numpy and torch
agree, the export's window decoding is the loaders' decoding of a window, and mirroring
twice gives the points back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastkp.data import Sample
from fastkp.pipeline import codec
from fastkp.pipeline.augment import AugConfig, draw, no_augmentation

OUT = (48, 64)


def _points(n: int = 6, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    src_hw = rng.integers(60, 200, (n, 2))
    points = rng.uniform(0.2, 0.8, (n, k, 2)) * src_hw[:, None, ::-1]
    return points, src_hw


def test_decode_inverts_encode_through_augmented_matrices():
    points, src_hw = _points()
    matrix = draw(np.random.default_rng(1), src_hw, OUT, AugConfig(max_rotate=30, max_warp=0.3)).matrix
    targets, visible = codec.encode(points, matrix, OUT)
    back = codec.decode(targets, matrix, OUT)
    np.testing.assert_allclose(back[visible], points[visible], atol=1e-3)  # float32 targets
    assert (targets[~visible] == 0).all()


def test_numpy_and_torch_decode_agree():
    points, src_hw = _points()
    matrix = no_augmentation(src_hw, OUT).matrix
    targets, _ = codec.encode(points, matrix, OUT)
    on_numpy = codec.decode(targets, matrix, OUT)
    on_torch = codec.decode(torch.from_numpy(targets), torch.from_numpy(matrix).float(), OUT)
    np.testing.assert_allclose(on_torch.numpy(), on_numpy, atol=1e-4)


def test_decode_window_is_decode_of_the_window_matrix():
    """The export decodes a window (origin, size) as the loaders decode its matrix."""
    rng = np.random.default_rng(2)
    windows = np.column_stack([rng.uniform(-10, 10, (4, 2)), rng.uniform(20, 90, (4, 2))])
    matrix = no_augmentation(np.full((4, 2), 100), OUT, windows).matrix
    out = rng.uniform(-1, 1, (4, 3, 2))
    via_window = codec.decode_window(torch.from_numpy(out), torch.from_numpy(windows[:, :2]),
                                     torch.from_numpy(windows[:, 2:]))
    np.testing.assert_allclose(via_window.numpy(), codec.decode(out, matrix, OUT), atol=1e-9)


@pytest.mark.parametrize("centre", [0.0, 64.0])
def test_mirror_twice_is_the_identity(centre):
    points = torch.rand(3, 4, 2, dtype=torch.float64)
    flip = torch.tensor([1, 0, 2, 3])
    once = codec.mirror(points, flip, centre)
    assert torch.allclose(once[:, 0, 0], centre - points[:, 1, 0])
    assert torch.allclose(codec.mirror(once, flip, centre), points)


def test_flip_targets_renumbers_only_flipped_images():
    points, _ = _points(n=3, k=3)
    flipped = np.array([True, False, True])
    out = codec.flip_targets(points, flipped, np.array([2, 1, 0]))
    np.testing.assert_array_equal(out[1], points[1])
    np.testing.assert_array_equal(out[0], points[0][[2, 1, 0]])
    assert codec.flip_targets(points, flipped, None) is points


def test_diagonal_numpy_and_torch():
    target = np.array([[[0.0, 0.0], [3.0, 4.0], [50.0, 50.0]], [[1.0, 1.0], [1.0, 1.0], [9.0, 9.0]]])
    visible = np.array([[True, True, False], [False, False, False]])
    np.testing.assert_allclose(codec.diagonal(target, visible), [5.0, np.nan])
    on_torch = codec.diagonal(torch.from_numpy(target), torch.from_numpy(visible))
    assert on_torch[0] == pytest.approx(5.0) and torch.isinf(on_torch[1])


def test_labels_keep_the_data_sets_flags_and_group_images():
    points = np.array([[1.0, 2.0], [np.nan, np.nan]], np.float32)
    samples = [Sample("a.jpg", (10, 10), keypoints=points),
               Sample("b.jpg", (10, 10), keypoints=points, visibility=np.array([1, 0], np.int8)),
               Sample("a.jpg", (10, 10), keypoints=points)]
    got, flags, images = codec.labels(samples)
    np.testing.assert_array_equal(flags, [[2, 0], [1, 0], [2, 0]])
    assert images[0] == images[2] != images[1]
    assert np.isnan(got[:, 1]).all()
