"""Model files are untrusted zip archives: check every entry before any loader sees them.

A pt2 package holds a compiled shared library and a TorchScript file holds code;
both run when loaded, so model files must come from trusted sources. What fastkp
checks first (here and in ``fastkp::infer``) keeps a crafted file from writing
outside its extraction folder or from meaning two things: no entry may be an
absolute path, climb with ``..``, hold a NUL, be a symbolic link or appear twice;
the archive starts at the file's first byte; there is exactly one ``fastkp.json``,
of at most ``MAX_METADATA`` bytes.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

from ..errors import ExportError

MAX_METADATA = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_entries(z: zipfile.ZipFile, path: Path, record: str) -> None:
    """ExportError naming ``path`` and the entry unless every entry is safe to extract and
    exactly one ends with ``record``."""
    seen: set[str] = set()
    if z.infolist() and min(info.header_offset for info in z.infolist()) != 0:
        raise ExportError(f"{path}: the archive does not start at the beginning of the file; refusing the file")
    for info in z.infolist():
        name = info.filename
        if "\0" in info.orig_filename:
            raise ExportError(f"{path}: entry {name!r} holds a NUL byte; refusing the file")
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
            raise ExportError(f"{path}: entry {name!r} points outside the archive; refusing the file")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ExportError(f"{path}: entry {name!r} is a symbolic link; refusing the file")
        if name.lower() in seen:  # torch's zip reader finds entries ignoring ASCII case
            raise ExportError(f"{path}: entry {name!r} appears twice; refusing the file")
        seen.add(name.lower())
    found = [info for info in z.infolist() if info.filename.lower().endswith(record)]
    if len(found) > 1:
        raise ExportError(f"{path}: {len(found)} entries named {record}; refusing the file")
    if found and found[0].file_size > MAX_METADATA:
        raise ExportError(f"{path}: {record} is {found[0].file_size} bytes (at most {MAX_METADATA}); "
                          "refusing the file")
