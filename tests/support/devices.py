"""The devices an operator test runs on."""

from __future__ import annotations

import pytest


def cpu_and_cuda():
    """Parametrise a test over devices, as torchvision's test/test_ops.py does:
    ``@pytest.mark.parametrize("device", cpu_and_cuda())``; the cuda case is marked ``cuda``."""
    return ("cpu", pytest.param("cuda", marks=pytest.mark.cuda))
