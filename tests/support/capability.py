"""Running a check in a fresh Python with ATen's CPU kernels pinned to one instruction set."""

from __future__ import annotations

import os
import subprocess
import sys


def run_with_capability(code: str, capability: str) -> None:
    """Run ``code`` under ``ATEN_CPU_CAPABILITY=capability``; it must succeed and print the
    capability the fastkp kernels used (``fastkp.ops.cpu_capability()``)."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == capability.upper()
