"""Paths read from data files and folders: names checked to stay inside the dataset,
folder listings that report what cannot be examined, and which files are images."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath

from .sample import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # the images fastkp reads, by suffix in any case


def is_image_name(name: str) -> bool:
    """A JPEG or PNG by its suffix (any case), not a hidden file."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def image_name(fname: str, where: str) -> str:
    """A CSV file name, checked lexically to stay inside the image folder: not empty, not
    absolute, no ``..``, no NUL (a symlinked image pointing elsewhere is still allowed)."""
    name = fname.strip()
    if not name:
        raise DatasetError(f"{where}: empty fname")
    if "\0" in name:
        raise DatasetError(f"{where}: fname {name!r} holds a NUL byte")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or name.startswith("\\"):
        raise DatasetError(f"{where}: fname {name!r} is an absolute path; give it relative to the image folder")
    if ".." in name.replace("\\", "/").split("/"):
        raise DatasetError(f"{where}: fname {name!r} climbs out of the image folder with '..'")
    return name


def inside(root: Path | str, path: Path | str) -> bool:
    """Whether ``path`` is ``root`` or below it, lexically (``..`` resolved, links not
    followed: a linked folder inside the tree may point elsewhere, as a linked image may)."""
    base, target = os.path.normpath(os.path.abspath(root)), os.path.normpath(os.path.abspath(path))
    return target == base or target.startswith(base.rstrip(os.sep) + os.sep)


def scan(folder: Path, wanted: Callable[[str], bool], kind: str) -> tuple[list[str], list[DatasetError]]:
    """The sorted names in ``folder`` that ``wanted`` selects and that are a ``kind``
    ("dir" or "file", links followed), and one error per selected entry that cannot be
    examined (a symbolic-link loop, no permission); other entries are never touched."""
    try:
        entries = list(os.scandir(folder))
    except OSError as err:
        raise DatasetError(f"{folder}: cannot list the folder ({err.strerror})") from None
    names, bad = [], []
    for entry in entries:
        if not wanted(entry.name):
            continue
        try:
            if entry.is_dir() if kind == "dir" else entry.is_file():
                names.append(entry.name)
        except OSError as err:
            bad.append(DatasetError(f"{folder / entry.name}: cannot be examined ({err.strerror})"))
    return sorted(names), bad
