"""Models: a torchvision ResNet body with a fastai-style head.

Each target head gets fastai's ``create_head``: concat pooling (max and
average), then BatchNorm -> Dropout(0.25) -> Linear(2*nf, 512) -> ReLU ->
BatchNorm -> Dropout(0.5) -> Linear(512, n_out), then the head's own output
layer (keypoints: the fused ``SigmoidRange(-1, 1)`` and a reshape to (B, K, 2);
labels: none, raw logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn

from .errors import UsageError
from .heads import Head, check_names

ARCHS = ("resnet18", "resnet34", "resnet50")


class AdaptiveConcatPool2d(nn.Module):
    """Max and average pooling to 1x1, concatenated along channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.amax(x, dim=(2, 3)), torch.mean(x, dim=(2, 3))], dim=1)


def create_head(n_features: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        AdaptiveConcatPool2d(),
        nn.BatchNorm1d(2 * n_features),
        nn.Dropout(0.25),
        nn.Linear(2 * n_features, 512, bias=False),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(512),
        nn.Dropout(0.5),
        nn.Linear(512, n_out, bias=False),
    )


class FastkpModel(nn.Module):
    """ResNet body + one fastai head per target head; ``forward`` returns one tensor per
    head, in order (keypoints (B, K, 2) in [-1, 1], logits (B, C), ...)."""

    def __init__(self, arch: str, heads: Sequence[Head]):
        super().__init__()
        if arch not in ARCHS:
            raise UsageError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
        check_names(heads)
        resnet = getattr(torchvision.models, arch)(weights=None)
        n_features = resnet.fc.in_features
        self.body = nn.Sequential(*list(resnet.children())[:-2])
        self.heads = nn.ModuleList(
            nn.Sequential(*create_head(n_features, h.n_out), h.output_layer()) for h in heads)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = self.body(images)
        outs: list[torch.Tensor] = []
        for head in self.heads:
            outs.append(head(features))
        return outs

    def param_groups(self) -> list[list[nn.Parameter]]:
        """fastai's ResNet split: stem..layer2, layer3..layer4, head."""
        body = list(self.body.children())
        groups = [body[:6], body[6:], [self.heads]]
        return [[p for m in g for p in m.parameters()] for g in groups]

    def freeze_body(self, frozen: bool = True) -> None:
        """Freeze the body except its BatchNorm layers (fastai's train_bn)."""
        for m in self.body.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                continue
            for p in m.parameters(recurse=False):
                p.requires_grad_(not frozen)

    def load_body_weights(self, path: str | Path) -> None:
        """Load a torchvision ResNet state dict (e.g. resnet18-f37072fd.pth) into the body."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise UsageError(
                f"weights file {path}: no such file. Download the torchvision weights for this arch on a "
                "machine with internet access (e.g. torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url) "
                "and give the local .pth file."
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a bad file
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UsageError(f"weights file {path}: not a readable torch state dict ({reason})") from None
        if not isinstance(state, dict):
            raise UsageError(f"weights file {path}: expected a state dict, got {type(state).__name__}")
        # torchvision names: conv1, bn1, layer1..4, fc; the body is Sequential 0..7.
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        mapped = {}
        for key, value in state.items():
            prefix, _, rest = key.partition(".")
            if prefix in names:
                mapped[f"{names.index(prefix)}.{rest}"] = value
        try:
            missing, unexpected = self.body.load_state_dict(mapped, strict=False)
            problem = f"missing {missing[:3]}, unexpected {unexpected[:3]}" if missing or unexpected else ""
        except RuntimeError as e:  # shapes that differ
            problem = (str(e).strip().splitlines() or ["shape mismatch"])[-1].strip()
        if problem:
            raise UsageError(
                f"weights file {path}: does not fit this body ({problem}); is it the state dict of the same ResNet arch?"
            )
