"""Load an exported model file (TorchScript, pt2 or ONNX, told apart by its contents)."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import ops  # noqa: F401  registers torch.ops.fastkp.*, which both formats call
from ..errors import ExportError
from .metadata import ModelMetadata, read_metadata
from .onnx import load_onnx
from .pt2 import load_pt2
from .torchscript import load_torchscript


class DeployedModel:
    """An exported model ready to run: ``model(images)`` with uint8 (B, H, W, 3) RGB
    images returns the single head's float32 answer (keypoints (B, K, 2) in input pixels,
    probabilities (B, C), ...), or a tuple of one answer per head."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu"):
        self.path = Path(path).expanduser()
        self.device = torch.device(device)
        self.metadata: ModelMetadata = read_metadata(self.path)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ExportError(f"{self.path}: device {self.device} asked for, but CUDA is not available")
        if self.metadata.export_format == "pt2":
            self._run = load_pt2(self.path, self.metadata, self.device)
        elif self.metadata.export_format == "onnx":
            self._run = load_onnx(self.path, self.device)
        else:
            self._run = load_torchscript(self.path, self.device)

    def __call__(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.size(3) != 3 or images.numel() == 0:
            raise ValueError(f"images must be a non-empty uint8 tensor (B, H, W, 3), got "
                             f"{images.dtype} {tuple(images.shape)}")
        with torch.inference_mode():
            out = self._run(images.to(self.device).contiguous())
        return tuple(out) if isinstance(out, (list, tuple)) else out

    def answers(self, images: torch.Tensor) -> list[torch.Tensor]:
        """One answer per head, in ``metadata.heads`` order, whatever the head count."""
        out = self(images)
        return list(out) if isinstance(out, tuple) else [out]


def load(path: str | Path, device: str | torch.device = "cpu") -> DeployedModel:
    """The model in ``path`` on ``device``; ExportError (naming the file) if it cannot run there."""
    return DeployedModel(path, device)
