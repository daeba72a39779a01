"""Shared by the tests: empty weight caches, and skipping tests marked ``cuda`` where no
CUDA device exists (``-m cuda`` selects them all). Helpers the test modules share are in
support/ (the devices an operator test runs on: ``support.devices.cpu_and_cuda``).

No test may see or fill the user's weight caches, or reach the network: before
anything imports torch.hub or huggingface_hub, TORCH_HOME and HF_HOME point at an
empty folder of this session and Hugging Face is offline. Tests that need weights
put a file where the library's cache expects it (``tests/support/weights.py``)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_CACHES = tempfile.mkdtemp(prefix="fastkp-test-caches-")
atexit.register(shutil.rmtree, _CACHES, True)
os.environ.update(TORCH_HOME=os.path.join(_CACHES, "torch"), HF_HOME=os.path.join(_CACHES, "hf"),
                  HF_HUB_OFFLINE="1")
os.environ.pop("HF_HUB_CACHE", None)
os.environ.pop("HUGGINGFACE_HUB_CACHE", None)

import pytest  # noqa: E402
import torch  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
