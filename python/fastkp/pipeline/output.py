"""The batch both loaders yield."""

from __future__ import annotations

import numpy as np
import torch

TARGET_KEYS = ("keypoints", "visible", "boxes", "labels", "values", "label", "index", "matrix")


def make_batch(images_nhwc: torch.Tensor, targets: dict[str, np.ndarray], device: torch.device,
               dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``images`` (B, 3, H, W) of ``dtype`` in channels_last memory format, then the targets
    as tensors, all on ``device``."""
    images = images_nhwc.permute(0, 3, 1, 2).to(device=device, dtype=dtype, non_blocking=True)
    batch = {"images": images}
    for key in TARGET_KEYS:
        if key in targets:
            batch[key] = torch.from_numpy(targets[key]).to(device, non_blocking=True)
    return batch
