"""Models: a body (:mod:`fastkp.backbones`: torchvision or timm) with one network per head.

Each target head ends the body with the network of its ``head_type``
(:mod:`fastkp.heads.networks`: fastai's ``create_head``, torchvision's pool + linear, or
a heatmap neck decoded by the fused soft-argmax), then its own output layer (keypoints:
the fused ``SigmoidRange(-1, 1)`` and a reshape to (B, K, 2); labels: none, raw logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from . import backbones
from .errors import UsageError
from .heads import Head, check_names


class FastkpModel(nn.Module):
    """Body + one network per target head; ``forward`` returns one tensor per head, in
    order (keypoints (B, K, 2) in [-1, 1], logits (B, C), ...). ``size`` is the network
    input (the body's channel count comes from a dry run there); ``pretrained`` loads the
    architecture's default ImageNet weights (:func:`fastkp.backbones.create_body`)."""

    def __init__(self, arch: str, heads: Sequence[Head], size: tuple[int, int] = (224, 224),
                 pretrained: bool = False):
        super().__init__()
        check_names(heads)
        self.body, n_features, self._names = backbones.create_body(arch, tuple(size), pretrained)
        self._timm = arch.startswith(backbones.TIMM)
        spatial = any(h.head_type == "heatmap" for h in heads)
        feature_hw = backbones.feature_hw(self.body, tuple(size)) if spatial else None
        self.heads = nn.ModuleList(h.network(n_features, tuple(size), feature_hw) for h in heads)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = self.body(images)
        outs: list[torch.Tensor] = []
        for head in self.heads:
            outs.append(head(features))
        return outs

    def param_groups(self) -> list[list[nn.Parameter]]:
        """fastai's split by depth: the body's first half (by layers with weights, in order),
        its second half, the heads (for a ResNet: stem..layer2, layer3..layer4, heads)."""
        layers = [m for m in self.body.modules() if any(True for _ in m.parameters(recurse=False))]
        half = len(layers) // 2
        groups = [[p for m in layers[:half] for p in m.parameters(recurse=False)],
                  [p for m in layers[half:] for p in m.parameters(recurse=False)]]
        return groups + [list(self.heads.parameters())]

    def freeze_body(self, frozen: bool = True) -> None:
        """Freeze the body except its norm layers (fastai's train_bn)."""
        for m in self.body.modules():
            if isinstance(m, backbones.NORMS):
                continue
            for p in m.parameters(recurse=False):
                p.requires_grad_(not frozen)

    def load_body_weights(self, path: str | Path) -> None:
        """Load the state dict of the full library model (torchvision's resnet18-f37072fd.pth,
        a timm model's state dict, ...) into the body."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise UsageError(
                f"weights file {path}: no such file. Get the library's weights for this arch on a machine with "
                "internet access (or use --pretrained yes there) and give the local .pth file.")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a bad file
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UsageError(f"weights file {path}: not a readable torch state dict ({reason})") from None
        if not isinstance(state, dict):
            raise UsageError(f"weights file {path}: expected a state dict, got {type(state).__name__}")
        mapped = backbones.body_state(state, self._names, self._timm)
        wanted = self.body.state_dict()
        missing = [k for k in wanted if k not in mapped]
        wrong = [k for k in wanted if k in mapped and (not isinstance(mapped[k], torch.Tensor)
                                                       or mapped[k].shape != wanted[k].shape)]
        if missing or wrong:
            problem = f"missing {missing[:3]}" if missing else f"other shapes for {wrong[:3]}"
            raise UsageError(f"weights file {path}: does not fit this body ({problem}); "
                             "is it the state dict of the same arch?")
        self.body.load_state_dict({k: mapped[k] for k in wanted})
