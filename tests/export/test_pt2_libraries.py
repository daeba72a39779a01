"""A pt2 package whose compiled library is cut short (or whose ELF headers point past its
end) is refused in one line, before anything maps it, by fastkp-infer and by Python's
loader (fastkp.export.load, so fastkp.predict and fastkp.evaluate): mapped, it killed
them with SIGBUS and left its extraction folder. Folders of dead processes are removed by
the next load. The packages are crafted here: no AOTInductor compile."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import zipfile

import pytest

import fastkp._verify
from fastkp.export import ExportError, load
from support.fuzz import PT2_LIBRARY as LIBRARY
from support.fuzz import pt2_package
from support.images import random_pixels, write_ppm
from support.infer import INFER


def real_library() -> bytes:
    """A shared library of this build: ELF64, section headers at its end."""
    with open(fastkp._verify.__file__, "rb") as f:
        return f.read()


def damaged_libraries() -> dict[str, tuple[bytes, str]]:
    """name -> (library, what the refusal says)."""
    lib = real_library()
    phoff, = struct.unpack_from("<Q", lib, 32)
    grown = bytearray(lib)  # the first segment claims a gigabyte more than the file holds
    struct.pack_into("<Q", grown, phoff + 32, struct.unpack_from("<Q", lib, phoff + 32)[0] + (1 << 30))
    return {"truncated": (lib[: len(lib) * 3 // 5], "ends past its"),
            "segment past the end": (bytes(grown), "program 0 ends past"),
            "header only": (lib[:40], "shorter than an ELF header")}


@pytest.fixture
def image(tmp_path):
    return write_ppm(tmp_path / "a.ppm", random_pixels(8, 8))


@pytest.mark.parametrize("name", list(damaged_libraries()))
def test_damaged_library_is_refused_in_one_line(tmp_path, image, name):
    library, says = damaged_libraries()[name]
    path = pt2_package(tmp_path / "m.pt2", library)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    proc = subprocess.run([str(INFER), str(path), str(image)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"fastkp-infer: {path}: the shared library 'm/{LIBRARY}' is truncated or damaged (")
    assert says in line and line.endswith("; refusing the file"), line
    with pytest.raises(ExportError, match=f"the shared library 'm/{LIBRARY}' is truncated or damaged .*{says}"):
        load(path)
    assert list(temp.iterdir()) == []


def test_compressed_library_is_refused(tmp_path, image):
    path = pt2_package(tmp_path / "m.pt2", real_library())
    deflated = tmp_path / "deflated.pt2"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    proc = subprocess.run([str(INFER), str(deflated), str(image)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "is compressed (torch stores its libraries uncompressed)" in proc.stderr
    with pytest.raises(ExportError, match="is compressed"):
        load(deflated)


def test_stale_extraction_folders_are_removed(tmp_path, image, monkeypatch):
    """Folders of a dead process go, those of a live one (this process) and foreign names stay."""
    temp = tmp_path / "temp"
    temp.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = temp / f"fastkp-pt2-{gone.stdout.strip()}-abc123"
    live = temp / f"fastkp-pt2-{os.getpid()}-abc123"
    other = temp / "fastkp-pt2-abc123"  # an older name without a pid: nobody's to judge
    harmless = pt2_package(tmp_path / "ok.pt2", b"not ELF: the check passes, the loader refuses it" * 2)
    for program in ("fastkp-infer", "python"):
        for d in (dead, live, other):
            (d / "data").mkdir(parents=True, exist_ok=True)
        if program == "fastkp-infer":
            proc = subprocess.run([str(INFER), str(harmless), str(image)], capture_output=True, text=True,
                                  timeout=300, env={**os.environ, "TMPDIR": str(temp)})
            assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        else:
            monkeypatch.setattr(tempfile, "tempdir", str(temp))
            with pytest.raises(ExportError, match="cannot load the pt2 package"):
                load(harmless)
        assert not dead.exists() and live.exists() and other.exists(), program
        assert sorted(p.name for p in temp.iterdir()) == sorted([live.name, other.name]), program
