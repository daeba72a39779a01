"""fastkp-infer, the C++ program under test (in the scripts folder of the Python running
the tests): running it, reading its JSON lines, and its refusals of bad images."""

from __future__ import annotations

import json
import subprocess
import sysconfig
from pathlib import Path

INFER = Path(sysconfig.get_path("scripts")) / "fastkp-infer"


def run_infer(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    """fastkp-infer with ``args``; ``check``: exit status 0 expected."""
    proc = subprocess.run([str(INFER), *map(str, args)], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def refused_lines(model: Path, good: Path, bad: list[Path]) -> list[str]:
    """fastkp-infer on ``good`` then ``bad``: exit 1, ``good`` answered, one stderr line per
    bad image naming it, in order (the lines, returned)."""
    proc = run_infer(model, good, *bad, check=False)
    assert proc.returncode == 1
    assert [r["image"] for r in json_lines(proc.stdout)] == [str(good)]
    lines = proc.stderr.splitlines()
    assert len(lines) == len(bad), proc.stderr
    for path, line in zip(bad, lines):
        assert line.startswith(f"fastkp-infer: {path}: "), line
    return lines
