"""The deployed network: uint8 RGB images of any size in, answers in input pixels out."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..pipeline import codec
from ..pipeline.boxes import BoxCrop, box_windows
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

    A model trained on box crops (``meta.box_crop``) takes ``boxes`` float32 (B, 4) too and
    samples each box's window (:mod:`fastkp.pipeline.boxes`) with ``F.grid_sample`` (bilinear,
    border padding, as the loaders' warp); its points map back through the window. With
    ``meta.tta == "flip"`` the network also sees the mirrored input, whose points come back
    through the flip permutation, and the two are averaged (keypoint heads only).
    """

    def __init__(self, net: nn.Module, meta: ModelMetadata):
        super().__init__()
        self.net = net.eval()
        self.size = [int(v) for v in meta.input_size]
        heads = meta.head_objects()
        self.decoders = nn.ModuleList(h.deploy_layer() for h in heads)
        mean = torch.tensor(meta.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(meta.std, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std))
        self.register_buffer("offset", -mean / std)
        crop = BoxCrop.from_dict(meta.box_crop)
        self.margin = 0.0 if crop is None else float(crop.margin)
        self.pad = crop is not None and crop.mode == "pad"
        self.flip = meta.tta == "flip"
        if self.flip:  # every head is a keypoint head with a flip permutation (metadata.check)
            self.sizes = [h.n_keypoints for h in heads]
            offsets = torch.tensor([0] + self.sizes[:-1]).cumsum(0)
            self.register_buffer("flip_index", torch.cat([torch.tensor(h.flip_index) + o
                                                          for h, o in zip(heads, offsets.tolist())]))
        else:
            self.sizes = [0]
            self.register_buffer("flip_index", torch.zeros(0, dtype=torch.int64))
        self.requires_grad_(False)
        self.eval()

    def _windows(self, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, y0) and (w, h) of each box's window (the loaders' ``BoxCrop.windows``)."""
        return box_windows(boxes, self.margin, self.pad, self.size[1] / self.size[0])

    def _crop(self, x: torch.Tensor, origin: torch.Tensor, wh: torch.Tensor) -> torch.Tensor:
        """Sample each window of ``x`` (B, 3, H, W) onto the network input size. grid_sample's
        [-1, 1] input coordinates: u_in = (2 * x_pixel) / W - 1."""
        frame = torch.stack([torch.full_like(wh[:, 0], x.size(3)), torch.full_like(wh[:, 0], x.size(2))], 1)
        theta = torch.zeros(x.size(0), 2, 3, dtype=x.dtype, device=x.device)
        theta[:, 0, 0] = wh[:, 0] / frame[:, 0]
        theta[:, 1, 1] = wh[:, 1] / frame[:, 1]
        theta[:, :, 2] = (2 * origin + wh) / frame - 1
        grid = F.affine_grid(theta, [x.size(0), 3, self.size[0], self.size[1]], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def _net(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x * self.scale + self.offset
        if not self.flip:
            return self.net(x)
        b = x.size(0)
        averaged: list[torch.Tensor] = []
        start = 0
        for i, o in enumerate(self.net(torch.cat([x, x.flip(3)]))):
            index = self.flip_index[start:start + self.sizes[i]] - start
            averaged.append((o[:b] + codec.mirror(o[b:], index)) / 2)  # a heatmap head's maps unused after
            start += self.sizes[i]
        return averaged

    def answers(self, images: torch.Tensor, boxes: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.size(3) != 3:
            raise ValueError("fastkp model input must be a uint8 tensor (B, H, W, 3) of RGB pixels")
        height, width = images.size(1), images.size(2)
        x = images.permute(0, 3, 1, 2).float()  # NCHW view with channels-last strides
        if boxes is None:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=False)
            origin = torch.zeros(x.size(0), 2, dtype=x.dtype, device=x.device)
            wh = torch.tensor([width, height], dtype=x.dtype, device=x.device).expand(x.size(0), 2)
        else:
            if boxes.dtype != torch.float32 or boxes.dim() != 2 or boxes.size(1) != 4 or \
                    boxes.size(0) != images.size(0):
                raise ValueError("fastkp model boxes must be float32 (B, 4) as x0, y0, x1, y1, one per image")
            origin, wh = self._windows(boxes)
            x = self._crop(x, origin, wh)
        outs = self._net(x)
        answers: list[torch.Tensor] = []
        for i, decoder in enumerate(self.decoders):
            answers.append(decoder(outs[i], origin, wh))
        return answers

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.answers(images)[0]


class MultiHeadDeployModule(DeployModule):
    """``forward(images)``: one answer per head, in ``fastkp.json`` order. TorchScript has no
    tuples of variable length, so it returns a list; the loaders hand back a tuple."""

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        return self.answers(images)


class BoxDeployModule(DeployModule):
    """``forward(images, boxes)``: one box per image, float32 (B, 4) in input pixels."""

    def forward(self, images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.answers(images, boxes)[0]


class MultiHeadBoxDeployModule(DeployModule):
    """``forward(images, boxes)``: one answer per head."""

    def forward(self, images: torch.Tensor, boxes: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        return self.answers(images, boxes)


BOX_MODULES = (BoxDeployModule, MultiHeadBoxDeployModule)


def deploy_module_for(net: nn.Module, meta: ModelMetadata) -> DeployModule:
    """The deploy module for ``net`` (one output per head) described by ``meta``."""
    if meta.box_crop is None:
        return (DeployModule if len(meta.heads) == 1 else MultiHeadDeployModule)(net, meta)
    return (BoxDeployModule if len(meta.heads) == 1 else MultiHeadBoxDeployModule)(net, meta)
