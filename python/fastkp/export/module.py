"""The deployed network: uint8 RGB images of any size in, answers in input pixels out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .metadata import ModelMetadata


class DeployModule(nn.Module):
    """``forward(images)``: uint8 (B, H, W, 3) RGB -> keypoints (B, K, 2) or probabilities (B, C).

    Inside: squash-resize to the network input size with ``F.interpolate(mode="bilinear",
    align_corners=False, antialias=False)`` (the pixel-corner convention of
    :func:`fastkp.pipeline.resize_matrix` and of the loaders' bilinear ``warp_affine``),
    normalise ``(v / 255 - mean) / std``, run ``net``, then either map the [-1, 1]
    keypoints back to input pixels, ``x_px = (x' + 1) / 2 * W`` and ``y_px = (y' + 1) / 2 * H``
    (the squash is linear, so normalised coordinates are the same in both frames), or
    apply the sigmoid to the logits. Scripts with ``torch.jit.script`` and exports with
    ``torch.export`` (batch, height and width dynamic).
    """

    def __init__(self, net: nn.Module, meta: ModelMetadata):
        super().__init__()
        self.net = net.eval()
        self.size = [int(v) for v in meta.input_size]
        self.keypoints = meta.keypoints
        mean = torch.tensor(meta.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(meta.std, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std))
        self.register_buffer("offset", -mean / std)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.size(3) != 3:
            raise ValueError("fastkp model input must be a uint8 tensor (B, H, W, 3) of RGB pixels")
        height, width = images.size(1), images.size(2)
        x = images.permute(0, 3, 1, 2).float()  # NCHW view with channels-last strides
        x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=False)
        out = self.net(x * self.scale + self.offset)
        if self.keypoints:
            frame = torch.tensor([width, height], dtype=out.dtype, device=out.device)
            return (out + 1.0) * 0.5 * frame
        return torch.sigmoid(out)
