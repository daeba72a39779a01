"""Deployment: a checkpoint becomes one self-describing file that Python and C++ run.

- :func:`export_checkpoint` (``python -m fastkp.export``): TorchScript or a
  ``torch.export`` + AOTInductor pt2 package of a :class:`DeployModule`, whose
  ``forward`` takes uint8 (B, H, W, 3) RGB images of any size and returns one
  answer per head (keypoints in input pixels, probabilities, ...); metadata in
  ``extra/fastkp.json`` (version 2: a ``heads`` list).
- :func:`load` / :func:`read_metadata`: run it or describe it from Python;
  :class:`CheckpointModel` runs a checkpoint through the same DeployModule.
- :func:`cmake_prefix_path`: where ``find_package(fastkp)`` finds the C++
  library ``fastkp::infer``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ExportError
# each module registers its format; torchscript first: the default
from . import torchscript  # noqa: F401, I001
from . import onnx, pt2  # noqa: F401
from .exporter import deploy_module, export_checkpoint, export_model
from .loader import CheckpointModel, DeployedModel, load
from .metadata import ModelMetadata, read_metadata
from .module import DeployModule, MultiHeadDeployModule

__all__ = [
    "CheckpointModel",
    "DeployModule",
    "DeployedModel",
    "ExportError",
    "ModelMetadata",
    "MultiHeadDeployModule",
    "cmake_prefix_path",
    "deploy_module",
    "export_checkpoint",
    "export_model",
    "load",
    "read_metadata",
]


def cmake_prefix_path() -> str:
    """The install prefix of the compiled parts (lib/, include/, share/cmake/fastkp)."""
    from .. import ops

    return str(Path(ops.library_path()).resolve().parent.parent)
