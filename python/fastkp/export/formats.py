"""The export formats, registered by their modules the way heads are (one table): how each
writes a DeployModule to a file and loads that file back as a callable.

Each format's ``save(module, meta, out, device, freeze)`` writes ``out`` atomically with
``fastkp.json`` inside; ``load(path, meta, device)`` returns a callable taking the
exported ``forward``'s inputs. ``fastkp.json``'s ``export_format`` names the format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError


@dataclass(frozen=True)
class ExportFormat:
    name: str
    save: Callable[[Any, Any, Path, torch.device, bool], None]  # (DeployModule, ModelMetadata, out, device, freeze)
    load: Callable[[Path, Any, torch.device], Callable]  # (path, ModelMetadata, device) -> the model
    device_bound: bool = False  # compiled for the export's device (recorded in fastkp.json) rather than any


_FORMATS: dict[str, ExportFormat] = {}


def register(fmt: ExportFormat) -> None:
    _FORMATS[fmt.name] = fmt


def names() -> tuple[str, ...]:
    """The registered formats, in registration order (the first is the default)."""
    return tuple(_FORMATS)


def get(name: str) -> ExportFormat:
    if name not in _FORMATS:
        raise UsageError(f"format must be one of {', '.join(_FORMATS)}, got {name!r}", setting="format")
    return _FORMATS[name]
