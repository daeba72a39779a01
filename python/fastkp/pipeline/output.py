"""The batch both loaders yield, and the device and dtype checks they share."""

from __future__ import annotations

import numpy as np
import torch

TARGET_KEYS = ("keypoints", "visible", "labels", "index", "matrix")


def check_device(device: str) -> torch.device:
    """``"cpu"`` or ``"cuda"`` (the current CUDA device); a clear error when there is no GPU."""
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device='cuda' needs a CUDA GPU and torch sees none; "
                               "use device='cpu'")
        return torch.device("cuda", torch.cuda.current_device())
    raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")


def check_dtype(dtype: torch.dtype) -> torch.dtype:
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")
    return dtype


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
