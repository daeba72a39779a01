"""Put weights where torchvision's and timm's own loaders look for them (the caches that
tests/conftest.py points at an empty folder), so tests exercise the real loading code."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision

SNAPSHOT = "0" * 40  # a commit hash, as the Hugging Face cache names snapshots


def put_torchvision_weights(arch: str, seed: int = 1) -> dict[str, torch.Tensor]:
    """A random state dict of ``arch`` saved as its default weights file in $TORCH_HOME."""
    torch.manual_seed(seed)
    state = torchvision.models.get_model(arch, weights=None).state_dict()
    url = torchvision.models.get_model_weights(arch).DEFAULT.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def put_timm_weights(name: str, seed: int = 1) -> dict[str, torch.Tensor]:
    """A random state dict of timm model ``name`` saved in the Hugging Face cache layout
    (models--ORG--REPO/refs/main, snapshots/HASH/model.safetensors) of its default weights."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    state = timm.create_model(name).state_dict()
    repo = timm.models.get_pretrained_cfg(name).hf_hub_id
    root = Path(os.environ["HF_HOME"]) / "hub" / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(SNAPSHOT)
    (root / "snapshots" / SNAPSHOT).mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(root / "snapshots" / SNAPSHOT / "model.safetensors"))
    return state
