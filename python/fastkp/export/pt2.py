"""pt2 packages: ``torch.export`` of the DeployModule compiled by AOTInductor.

The package holds a shared library compiled for one device (and the CPU
instruction set of the exporting machine); ``fastkp.json`` is added as the PT2
archive extra file ``extra/fastkp.json``. The fused operators stay calls to
``torch.ops.fastkp.*`` (AOTInductor's proxy executor dispatches them), so the
process running the package must have the fastkp operator library loaded.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import struct
import tempfile
import weakref
import zipfile
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


_FOLDER = re.compile(r"fastkp-pt2-([0-9]+)-")  # fastkp-pt2-PID-..., as fastkp-infer names them too


def remove_stale_folders(temp: str) -> None:
    """Remove this user's extraction folders whose process is gone: a process killed while
    loading or running (a SIGBUS, kill -9) could not remove its own."""
    for entry in os.scandir(temp):
        match = _FOLDER.match(entry.name)
        try:
            if not match or not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid \
                    != os.getuid():
                continue
            os.kill(int(match[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:  # alive under another user (EPERM), or gone from the folder meanwhile
            continue


def _elf_damage(f, start: int, size: int) -> str:
    """Why the ELF image of ``size`` bytes at ``start`` of ``f`` is cut short, or "" (as
    fastkp-infer's check_shared_libraries: only 64-bit little-endian ELF is read)."""
    if size < 64:
        return "" if size < 4 else "shorter than an ELF header"
    f.seek(start)
    head = f.read(64)
    if head[:6] != b"\x7fELF\x02\x01":
        return ""  # not ELF64 LE: the loader says so itself
    phoff, shoff = struct.unpack_from("<QQ", head, 32)
    phsize, phnum, shsize, shnum = struct.unpack_from("<HHHH", head, 54)
    # Elf64_Phdr and Elf64_Shdr: p_offset at 8, sh_type at 4 and sh_offset at 24, both sizes at 32.
    for name, offset, count, entry, want, offset_at in (("program", phoff, phnum, phsize, 56, 8),
                                                        ("section", shoff, shnum, shsize, 64, 24)):
        if count == 0:
            continue
        if entry != want or offset + entry * count > size:
            return f"its {name} headers lie past its {size} bytes"
        f.seek(start + offset)
        table = f.read(entry * count)
        for i in range(count):
            row = table[i * entry:(i + 1) * entry]
            if offset_at == 24 and struct.unpack_from("<I", row, 4)[0] == 8:  # SHT_NOBITS: no bytes in the file
                continue
            (at,), (n,) = struct.unpack_from("<Q", row, offset_at), struct.unpack_from("<Q", row, 32)
            if at + n > size:
                return f"{name} {i} ends past its {size} bytes"
    return ""


def check_shared_libraries(path: Path) -> None:
    """ExportError naming the entry unless every ``.so`` of the package is stored (as torch
    writes it), lies inside the file and, as ELF, holds what its headers say: a truncated
    library is mapped all the same and kills the process with SIGBUS on first touch."""
    with open(path, "rb") as f, zipfile.ZipFile(f) as z:
        size = os.fstat(f.fileno()).st_size
        for info in z.infolist():
            if not info.filename.lower().endswith(".so"):
                continue
            entry = f"{path}: the shared library {info.filename!r}"
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise ExportError(f"{entry} is compressed (torch stores its libraries uncompressed); refusing the file")
            f.seek(info.header_offset)
            local = f.read(30)
            if local[:4] != b"PK\x03\x04":
                raise ExportError(f"{entry} has no local header where the directory says; refusing the file")
            start = info.header_offset + 30 + sum(struct.unpack_from("<HH", local, 26))
            if start + info.file_size > size:
                raise ExportError(f"{entry} runs past the end of the file; refusing the file")
            damage = _elf_damage(f, start, info.file_size)
            if damage:
                raise ExportError(f"{entry} is truncated or damaged ({damage}); refusing the file")


def load_pt2(path: Path, meta: ModelMetadata, device: torch.device):
    """The compiled model of a pt2 package (a callable); it runs only on ``meta.device``.
    Its libraries are checked first (check_shared_libraries). The loader extracts the package
    under a private temporary folder (it follows TMPDIR), removed when loading fails or the
    model is collected, or by the next load once this process is gone."""
    if device.type != meta.device:
        raise ExportError(f"{path}: this pt2 package was compiled for {meta.device}, not {device.type}; "
                          f"export it again with --device {device.type}")
    check_shared_libraries(path)
    remove_stale_folders(tempfile.gettempdir())
    private = tempfile.mkdtemp(prefix=f"fastkp-pt2-{os.getpid()}-")
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = private
    # torch warns "Loading outdated pt2 file" before its second try at a package it cannot read
    quiet = logging.getLogger("torch._inductor.package.package")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        model = torch._inductor.aoti_load_package(str(path), device_index=-1 if device.index is None else device.index)
    except RuntimeError as e:
        shutil.rmtree(private, ignore_errors=True)
        raise ExportError(f"{path}: cannot load the pt2 package ({str(e).splitlines()[0]})") from None
    finally:
        quiet.setLevel(level)
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous
    weakref.finalize(model, shutil.rmtree, private, True)
    return model


register(ExportFormat("pt2", save_pt2, load_pt2, device_bound=True))
