"""pt2 packages: ``torch.export`` of the DeployModule compiled by AOTInductor.

The package holds a shared library compiled for one device (and the CPU
instruction set of the exporting machine); ``fastkp.json`` is added as the PT2
archive extra file ``extra/fastkp.json``. The fused operators stay calls to
``torch.ops.fastkp.*`` (AOTInductor's proxy executor dispatches them), so the
process running the package must have the fastkp operator library loaded.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import torch
from torch.export import Dim
from torch.export.pt2_archive import PT2ArchiveReader, PT2ArchiveWriter

from ..atomic import atomic_writer
from ..errors import ExportError
from .formats import ExportFormat, register
from .metadata import RECORD, ModelMetadata
from .module import BOX_MODULES, DeployModule

CPU = torch.device("cpu")


def export_program(module: DeployModule, device: torch.device) -> torch.export.ExportedProgram:
    """``torch.export`` with batch, height and width dynamic (any number of images of any size),
    with a box per image for a box-crop model."""
    h, w = module.size
    example = torch.zeros(2, h + 3, w + 5, 3, dtype=torch.uint8, device=device)
    batch = Dim("batch", min=1)
    dims = {"images": {0: batch, 1: Dim("height", min=1), 2: Dim("width", min=1)}}
    if isinstance(module, BOX_MODULES):
        boxes = torch.tensor([[1.0, 2.0, 30.0, 40.0]], device=device).expand(2, 4).contiguous()
        return torch.export.export(module.to(device), (example, boxes), dynamic_shapes={**dims, "boxes": {0: batch}})
    return torch.export.export(module.to(device), (example,), dynamic_shapes=dims)


def save_pt2(module: DeployModule, meta: ModelMetadata, out: Path, device: torch.device = CPU,
             freeze: bool = True) -> None:
    """Export, compile with AOTInductor (``freeze``: Inductor's freezing, which folds the
    weights and BatchNorm into the compiled convolutions) and write the package with
    ``fastkp.json`` atomically."""
    compiled = io.BytesIO()
    torch._inductor.aoti_compile_and_package(export_program(module, device), package_path=compiled,
                                             inductor_configs={"freezing": freeze})
    compiled.seek(0)
    with atomic_writer(out) as f:
        with PT2ArchiveReader(compiled) as src, PT2ArchiveWriter(f) as dst:
            for name in src.get_file_names():
                if not name.startswith(".data/"):  # the writer's own bookkeeping records
                    dst.write_bytes(name, src.read_bytes(name))
            dst.write_string(RECORD, meta.to_json())


def load_pt2(path: Path, meta: ModelMetadata, device: torch.device):
    """The compiled model of a pt2 package (a callable); it runs only on ``meta.device``.
    The loader extracts the package under a private temporary folder (it follows TMPDIR),
    removed when loading fails or the model is collected."""
    if device.type != meta.device:
        raise ExportError(f"{path}: this pt2 package was compiled for {meta.device}, not {device.type}; "
                          f"export it again with --device {device.type}")
    private = tempfile.mkdtemp(prefix="fastkp-pt2-")
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = private
    try:
        model = torch._inductor.aoti_load_package(str(path), device_index=-1 if device.index is None else device.index)
    except RuntimeError as e:
        shutil.rmtree(private, ignore_errors=True)
        raise ExportError(f"{path}: cannot load the pt2 package ({str(e).splitlines()[0]})") from None
    finally:
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous
    weakref.finalize(model, shutil.rmtree, private, True)
    return model


register(ExportFormat("pt2", save_pt2, load_pt2, device_bound=True))
