"""Checkpoint -> deployable file."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import ModelSpec, load_model
from ..errors import UsageError
from . import formats
from .metadata import ModelMetadata, check_tta, metadata_for
from .module import DeployModule, deploy_module_for


def check_device(device: str) -> torch.device:
    """``device`` parsed, and present here (every format's export runs on it: a TorchScript
    file is traced on the CPU but checked too, so that no export silently ignores a device
    that is not there)."""
    try:
        parsed = torch.device(device)
    except RuntimeError as e:
        raise UsageError(f"device {device!r}: {str(e).splitlines()[0]}", setting="device") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r}: CUDA is not available on this machine", setting="device")
    if parsed.type not in ("cpu", "cuda"):
        raise UsageError(f"device {device!r}: fastkp exports for cpu or cuda", setting="device")
    return parsed


def _deploy(model: torch.nn.Module, spec: ModelSpec, export_format: str,
            device: str, tta: str | None) -> tuple[DeployModule, ModelMetadata]:
    fmt = formats.get(export_format)
    check_device(device)
    try:
        check_tta(tta, spec.heads)
    except ValueError as e:
        raise UsageError(str(e), setting="tta") from None
    meta = metadata_for(spec, export_format, torch.device(device).type if fmt.device_bound else "any", tta)
    return deploy_module_for(model, meta), meta


def deploy_module(checkpoint: str | Path, export_format: str = "torchscript", device: str = "cpu",
                  tta: str | None = None) -> tuple[DeployModule, ModelMetadata, ModelSpec]:
    """The eager DeployModule of a checkpoint, with the metadata its export will carry."""
    model, spec = load_model(checkpoint)
    module, meta = _deploy(model, spec, export_format, device, tta)
    return module, meta, spec


def export_model(model: torch.nn.Module, spec: ModelSpec, out: str | Path, export_format: str = "torchscript",
                 freeze: bool = True, device: str = "cpu", tta: str | None = None) -> ModelMetadata:
    """Write ``out`` for ``model`` (a FastkpModel on the CPU, eval mode) described by ``spec``:
    a TorchScript file, for ``"pt2"`` an AOTInductor package compiled for ``device``, for
    ``"onnx"`` an ONNX file (opset 18); ``freeze`` folds weights and BatchNorm into the
    graph (TorchScript and pt2: faster on the CPU, same answers); ``tta="flip"`` builds the
    flip test into the model (keypoint heads with a flip permutation)."""
    module, meta = _deploy(model, spec, export_format, device, tta)
    formats.get(export_format).save(module, meta, Path(out).expanduser(), torch.device(device), freeze)
    return meta


def export_checkpoint(checkpoint: str | Path, out: str | Path, export_format: str = "torchscript",
                      freeze: bool = True, device: str = "cpu", tta: str | None = None) -> ModelMetadata:
    """:func:`export_model` of a checkpoint's model; CheckpointError for a bad checkpoint."""
    formats.get(export_format)  # an unknown format fails before the checkpoint is read
    model, spec = load_model(checkpoint)
    return export_model(model, spec, out, export_format, freeze, device, tta)
