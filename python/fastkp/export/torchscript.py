"""TorchScript files: ``torch.jit.script`` of the DeployModule, metadata as an extra file."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from ..atomic import atomic_writer
from ..errors import ExportError
from .formats import ExportFormat, register
from .metadata import FILE_NAME, ModelMetadata
from .module import DeployModule

CPU = torch.device("cpu")


@contextmanager
def _deprecation_quiet() -> Iterator[None]:
    """TorchScript warns that it is deprecated on every call; the pt2 format is the
    successor (README, Deployment), so the warning is not repeated to users."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r".*torch\.jit\..* is deprecated", FutureWarning)
        yield


def save_torchscript(module: DeployModule, meta: ModelMetadata, out: Path, device: torch.device = CPU,
                     freeze: bool = True) -> None:
    """Script ``module`` (TorchScript runs on any device; frozen: weights folded into the graph as constants, BatchNorm
    folded into the convolutions) and write it atomically with ``fastkp.json``."""
    with _deprecation_quiet():
        try:
            scripted = torch.jit.script(module)
        except Exception as e:  # TorchScript's frontend raises RuntimeError, NotSupportedError, ...
            reason = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
            raise ExportError(f"{meta.arch} does not compile to TorchScript ({reason[:200]}); export it with "
                              "--format pt2 or --format onnx") from None
        if freeze:
            scripted = torch.jit.freeze(scripted)
    with atomic_writer(out) as f, _deprecation_quiet():
        torch.jit.save(scripted, f, _extra_files={FILE_NAME: meta.to_json()})


def load_torchscript(path: Path, meta: ModelMetadata, device: torch.device) -> torch.jit.ScriptModule:
    try:
        with _deprecation_quiet():
            module = torch.jit.load(str(path), map_location=device)
    except RuntimeError as e:
        raise ExportError(f"{path}: cannot load the TorchScript model ({str(e).splitlines()[0]})") from None
    return module.eval()


register(ExportFormat("torchscript", save_torchscript, load_torchscript))
