"""TorchScript files: ``torch.jit.script`` of the DeployModule, metadata as an extra file."""

from __future__ import annotations

from pathlib import Path

import torch

from .files import atomic_writer
from .metadata import FILE_NAME, ExportError, ModelMetadata
from .module import DeployModule


def save_torchscript(module: DeployModule, meta: ModelMetadata, out: Path, freeze: bool) -> None:
    """Script ``module`` (frozen: weights folded into the graph as constants, BatchNorm
    folded into the convolutions) and write it atomically with ``fastkp.json``."""
    scripted = torch.jit.script(module)
    if freeze:
        scripted = torch.jit.freeze(scripted)
    with atomic_writer(out) as f:
        torch.jit.save(scripted, f, _extra_files={FILE_NAME: meta.to_json()})


def load_torchscript(path: Path, device: torch.device) -> torch.jit.ScriptModule:
    try:
        module = torch.jit.load(str(path), map_location=device)
    except RuntimeError as e:
        raise ExportError(f"{path}: cannot load the TorchScript model ({str(e).splitlines()[0]})") from None
    return module.eval()
