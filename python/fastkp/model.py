"""Models: a torchvision ResNet body with a fastai-style head.

The head follows fastai's ``create_head``: concat pooling (max and average),
then BatchNorm -> Dropout(0.25) -> Linear(2*nf, 512) -> ReLU -> BatchNorm ->
Dropout(0.5) -> Linear(512, n_out). Keypoint models end in the fused
``SigmoidRange(-1, 1)`` and return (B, K, 2) points in [-1, 1]; classifiers
return (B, C) logits.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from .nn import SigmoidRange

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
    """ResNet body + head. ``n_keypoints`` set: keypoint regressor; else classifier."""

    def __init__(self, arch: str, n_keypoints: int | None = None, n_classes: int | None = None):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
        if (n_keypoints is None) == (n_classes is None):
            raise ValueError("give exactly one of n_keypoints and n_classes")
        resnet = getattr(torchvision.models, arch)(weights=None)
        n_features = resnet.fc.in_features
        self.body = nn.Sequential(*list(resnet.children())[:-2])
        self.n_keypoints = n_keypoints
        n_out = 2 * n_keypoints if n_keypoints is not None else n_classes
        self.head = create_head(n_features, n_out)
        self.y_range = SigmoidRange(-1.0, 1.0) if n_keypoints is not None else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.head(self.body(images))
        if self.y_range is not None:
            out = self.y_range(out).view(out.shape[0], -1, 2)
        return out

    def param_groups(self) -> list[list[nn.Parameter]]:
        """fastai's ResNet split: stem..layer2, layer3..layer4, head."""
        body = list(self.body.children())
        groups = [body[:6], body[6:], [self.head]]
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
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"--weights {path}: no such file. Download the torchvision weights for this arch on a "
                "machine with internet access (e.g. torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url) "
                "and pass the local .pth file."
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a bad file
            raise ValueError(f"--weights {path}: not a readable torch state dict ({e})") from None
        if not isinstance(state, dict):
            raise ValueError(f"--weights {path}: expected a state dict, got {type(state).__name__}")
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
            raise ValueError(
                f"--weights {path}: does not fit this body ({problem}); is it the state dict of the same ResNet arch?"
            )
