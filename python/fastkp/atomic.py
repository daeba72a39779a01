"""Atomic output: write a temporary file beside the target, fsync, rename over it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary(path: Path) -> tuple[int, str]:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make every output private
    return fd, tmp


@contextmanager
def atomic_writer(path: str | Path, also: Sequence[str | Path] = ()) -> Iterator[BinaryIO]:
    """A binary file open for writing; it replaces ``path`` only if the block succeeds,
    so readers see the old file or the complete new one, never a partial one. The same
    bytes replace each of ``also`` first (a hard link, so written once), so a failure in
    between leaves ``path`` older than them, never newer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        for other in map(Path, also):
            _publish_copy(tmp, other)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _publish_copy(src: str, path: Path) -> None:
    fd, tmp = _temporary(path)
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:  # no hard links here: copy
            shutil.copyfile(src, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
