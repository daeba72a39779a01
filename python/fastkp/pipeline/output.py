"""The batch both loaders yield."""

from __future__ import annotations

import numpy as np
import torch


def make_batch(images_nhwc: torch.Tensor, targets: dict[str, np.ndarray], device: torch.device,
               dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``images`` (B, 3, H, W) of ``dtype`` in channels_last memory format, then the planned
    targets as tensors, all on ``device``."""
    images = images_nhwc.permute(0, 3, 1, 2).to(device=device, dtype=dtype, non_blocking=True)
    return {"images": images, **{k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in targets.items()}}
