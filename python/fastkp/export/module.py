"""The deployed network: uint8 RGB images of any size in, answers in input pixels out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .metadata import ModelMetadata


class DeployModule(nn.Module):
    """``forward(images)``: uint8 (B, H, W, 3) RGB -> the single head's answer, e.g. keypoints
    (B, K, 2) in input pixels or probabilities (B, C).

    Inside: squash-resize to the network input size with ``F.interpolate(mode="bilinear",
    align_corners=False, antialias=False)`` (the pixel-corner convention of
    :func:`fastkp.pipeline.resize_matrix` and of the loaders' bilinear warp), normalise
    ``(v / 255 - mean) / std``, run ``net`` (one tensor per head), then each head's
    ``deploy_layer`` (points: [-1, 1] -> input pixels, which the squash leaves
    proportional; labels: sigmoid). Scripts with ``torch.jit.script`` and exports with
    ``torch.export`` (batch, height and width dynamic).
    """

    def __init__(self, net: nn.Module, meta: ModelMetadata):
        super().__init__()
        self.net = net.eval()
        self.size = [int(v) for v in meta.input_size]
        self.decoders = nn.ModuleList(h.deploy_layer() for h in meta.head_objects())
        mean = torch.tensor(meta.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(meta.std, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std))
        self.register_buffer("offset", -mean / std)
        self.requires_grad_(False)
        self.eval()

    def answers(self, images: torch.Tensor) -> list[torch.Tensor]:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.size(3) != 3:
            raise ValueError("fastkp model input must be a uint8 tensor (B, H, W, 3) of RGB pixels")
        height, width = images.size(1), images.size(2)
        x = images.permute(0, 3, 1, 2).float()  # NCHW view with channels-last strides
        x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=False)
        outs = self.net(x * self.scale + self.offset)
        answers: list[torch.Tensor] = []
        for i, decoder in enumerate(self.decoders):
            answers.append(decoder(outs[i], height, width))
        return answers

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.answers(images)[0]


class MultiHeadDeployModule(DeployModule):
    """``forward(images)``: one answer per head, in ``fastkp.json`` order. TorchScript has no
    tuples of variable length, so it returns a list; the loaders hand back a tuple."""

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        return self.answers(images)


def deploy_module_for(net: nn.Module, meta: ModelMetadata) -> DeployModule:
    """The deploy module for ``net`` (one output per head) described by ``meta``."""
    return (DeployModule if len(meta.heads) == 1 else MultiHeadDeployModule)(net, meta)
