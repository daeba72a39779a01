"""The two loaders side by side (DALI and the reference), strong augmentation, and the dot
test: images with a bright dot on each keypoint, and the check that every keypoint a
loader emits sits on its dot."""

from __future__ import annotations

import numpy as np
import torch

from fastkp.pipeline import AugConfig, build_loader, denormalize_points, transform_points
from fastkp.pipeline import reference

OUT = (60, 80)
STRONG = AugConfig(max_rotate=30.0, min_zoom=0.8, max_zoom=1.3, max_warp=0.3, max_lighting=0.3,
                   p_affine=1.0, p_lighting=1.0, min_scale=0.6)
SIGMA = 2.0  # dot radius in source pixels
RADIUS = 6  # centroid window half-size in output pixels
LOADERS = {"dali": build_loader, "reference": reference.build_loader}


def dot_image(hw, points, sigma: float = SIGMA) -> np.ndarray:
    """Dark image with a bright Gaussian dot centred on each (x, y) (pixel-corner coords)."""
    h, w = hw
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    img = np.zeros((h, w))
    for x, y in points:
        img += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return np.repeat((20 + 215 * np.clip(img, 0, 1)).round().astype(np.uint8)[..., None], 3, axis=2)


def centroid(image: torch.Tensor, x: float, y: float) -> np.ndarray:
    """Intensity centroid (pixel-corner coords) of the dot in a window around (x, y)."""
    g = image.float().mean(0).numpy()
    c, r = int(x), int(y)
    win = g[r - RADIUS : r + RADIUS + 1, c - RADIUS : c + RADIUS + 1]
    wgt = win - win.min()
    ys, xs = np.mgrid[r - RADIUS : r + RADIUS + 1, c - RADIUS : c + RADIUS + 1] + 0.5
    return np.array([(wgt * xs).sum(), (wgt * ys).sum()]) / wgt.sum()


def check_dots(samples, loader, epochs: int = 1) -> int:
    """Every visible keypoint away from the frame edge sits on its dot; returns how many."""
    out = loader.planner.size
    errors = []
    for _ in range(epochs):
        for batch in loader:
            kp = denormalize_points(batch["keypoints"].cpu().numpy().astype(np.float64), out)
            vis = batch["visible"].cpu().numpy()
            # the emitted matrix is the one the pixels received
            src = np.stack([samples[i].keypoints for i in batch["index"]]).astype(np.float64)
            flipped = batch["matrix"][:, 0, 0].cpu().numpy() < 0
            src[flipped] = src[flipped][:, [1, 0, 2]]
            from_matrix = transform_points(batch["matrix"].cpu().numpy().astype(np.float64), src)
            np.testing.assert_allclose(kp[vis], from_matrix[vis], atol=1e-3)
            # flip_index keeps the left dot (point 0) left of the right one (point 1)
            both = vis[:, 0] & vis[:, 1]
            assert np.all(kp[both, 0, 0] < kp[both, 1, 0])
            for b, k in zip(*np.nonzero(vis)):
                x, y = kp[b, k]
                if RADIUS + 1 <= x <= out[1] - RADIUS - 1 and RADIUS + 1 <= y <= out[0] - RADIUS - 1:
                    errors.append(np.hypot(*(centroid(batch["images"][b].cpu(), x, y) - (x, y))))
    # the issue asks for 1 px; a quarter pixel also catches half-pixel convention slips
    assert errors and max(errors) < 0.25, f"worst dot {max(errors):.2f} px off its keypoint"
    return len(errors)
