"""Dataset formats by name, found through a registry as heads are found by kind.

A reader module registers each layout it reads (``register(Format(...))`` at import);
a task names its ``target`` (the family of formats it reads) and takes the formats,
their default (the first registered) and their readers from here. Adding a layout =
one reader module and its ``register`` call; no task, command or config changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .dataset import Dataset


@dataclass(frozen=True)
class ReadOptions:
    """What a caller may choose about any read: the ``on_error`` policy, the pixel limit
    (None: the default, ``fastkp.data.pixels``), the random split of formats that give
    none (``valid_frac`` of the samples chosen with ``seed``), and a flip file
    (``--flip-json``) that formats pairing points by name (COCO, DeepLabCut) read instead,
    so that a name with no mirror is no error when the file gives the permutation."""

    on_error: str = "raise"
    max_pixels: int | None = None
    valid_frac: float = 0.2
    seed: int = 0
    flip_json: str | None = None


@dataclass(frozen=True)
class Format:
    """One layout: its ``name`` (what ``--format`` says), the ``target`` family that reads
    it (a task's ``target``), its reader, whether its boxes are cropped by default."""

    name: str
    target: str
    read: Callable[[str | Path, ReadOptions], Dataset]
    crop_boxes: bool = False
    description: str = ""


_FORMATS: dict[tuple[str, str], Format] = {}


def register(fmt: Format) -> Format:
    """Add ``fmt``; a second format of the same target and name is a programming error."""
    key = (fmt.target, fmt.name)
    if key in _FORMATS:
        raise ValueError(f"format {fmt.name!r} of {fmt.target!r} is registered twice")
    _FORMATS[key] = fmt
    return fmt


def registered() -> tuple[Format, ...]:
    """Every format, in registration order."""
    return tuple(_FORMATS.values())


def formats_of(target: str) -> tuple[str, ...]:
    """The format names of ``target`` in registration order: the first is its default."""
    return tuple(name for t, name in _FORMATS if t == target)


def get(target: str, name: str) -> Format:
    """The format ``name`` of ``target``; UsageError naming the choices when unknown."""
    fmt = _FORMATS.get((target, name))
    if fmt is None:
        raise UsageError(f"{target} data comes in the formats {', '.join(formats_of(target))}, not {name!r}",
                         setting="format")
    return fmt
