"""Shared by the tests: the devices an operator test runs on, and skipping tests
marked ``cuda`` where no CUDA device exists (``-m cuda`` selects them all)."""

from __future__ import annotations

import pytest
import torch


def cpu_and_cuda():
    """Parametrise a test over devices, as torchvision's test/test_ops.py does:
    ``@pytest.mark.parametrize("device", cpu_and_cuda())``; the cuda case is marked ``cuda``."""
    return ("cpu", pytest.param("cuda", marks=pytest.mark.cuda))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
