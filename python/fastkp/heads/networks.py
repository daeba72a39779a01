"""The layers between the body's feature map and a head's output layer, one per ``--head``.

- ``fastai``: fastai's ``create_head``: concat pooling (max and average), then BatchNorm ->
  Dropout(0.25) -> Linear(2*nf, 512) -> ReLU -> BatchNorm -> Dropout(0.5) -> Linear(512, n_out).
- ``linear``: average pooling and one linear layer, as torchvision's classifiers end.
- ``heatmap`` (keypoint heads): SimpleBaseline's neck (Xiao et al. 2018) on the last feature
  map: transposed convolutions (4x4, stride 2, BatchNorm, ReLU, ``NECK_CHANNELS`` wide)
  until the map is at most ``HEATMAP_STRIDE`` input pixels a cell, then one 1x1 convolution
  to one heatmap per point, decoded by the fused ``torch.ops.fastkp.soft_argmax``. The
  deconvolutions on the last map (not a top-down merge of the body's stages) keep every
  body a plain ``(B, C, h, w)`` map, timm's included, and cost about 6% of a ResNet-18's
  multiply-adds at 96x128 (two 128-wide layers to stride 8).

The heatmap network returns (B, K, 3 + h*w): x and y in [-1, 1], the soft-argmax's peak
probability (the point's score), then the raw heatmap (row-major), which the loss's
Jensen-Shannon term reads (:mod:`fastkp.heads.heatmaps`).
"""

from __future__ import annotations

import torch
from torch import nn

STYLES = ("fastai", "linear", "heatmap")
NECK_CHANNELS = 128
HEATMAP_STRIDE = 8  # input pixels per heatmap cell, at most (the body's stride halved until then)
BETA = 1.0  # the soft-argmax's inverse temperature: the 1x1 convolution learns the scale


class AdaptiveConcatPool2d(nn.Module):
    """Max and average pooling to 1x1, concatenated along channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.amax(x, dim=(2, 3)), torch.mean(x, dim=(2, 3))], dim=1)


class AveragePool(nn.Module):
    """Average pooling to one vector per image (torchvision's avgpool + flatten)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mean(x, dim=(2, 3))


def fastai_head(n_features: int, n_out: int) -> list[nn.Module]:
    return [AdaptiveConcatPool2d(), nn.BatchNorm1d(2 * n_features), nn.Dropout(0.25),
            nn.Linear(2 * n_features, 512, bias=False), nn.ReLU(inplace=True), nn.BatchNorm1d(512),
            nn.Dropout(0.5), nn.Linear(512, n_out, bias=False)]


def linear_head(n_features: int, n_out: int) -> list[nn.Module]:
    return [AveragePool(), nn.Linear(n_features, n_out)]


def deconvolutions(input_stride: float) -> int:
    """How many stride-2 upsamplings bring a map of ``input_stride`` pixels a cell to at
    most ``HEATMAP_STRIDE``."""
    n = 0
    while input_stride / 2**n > HEATMAP_STRIDE:
        n += 1
    return n


class HeatmapNet(nn.Module):
    """Features (B, C, h, w) -> (B, K, 3 + H*W): soft-argmax points, scores, heatmaps."""

    def __init__(self, n_features: int, n_points: int, n_up: int, beta: float = BETA):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(n_up):
            layers += [nn.ConvTranspose2d(width, NECK_CHANNELS, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(NECK_CHANNELS), nn.ReLU(inplace=True)]
            width = NECK_CHANNELS
        self.neck = nn.Sequential(*layers)
        self.final = nn.Conv2d(width, n_points, 1)
        self.beta = float(beta)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        maps = self.final(self.neck(features))
        coords, peak = torch.ops.fastkp.soft_argmax(maps, self.beta)
        flat = maps.flatten(2).to(coords.dtype)
        return torch.cat([coords, peak.unsqueeze(-1), flat], -1)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"
