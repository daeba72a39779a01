"""Models made without training: checkpoints with random weights (one head or several)
and probe models whose output reveals the exact pixels a program decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fastkp.checkpoint import ModelSpec, save_checkpoint
from fastkp.heads import KeypointHead, MultiLabelHead
from fastkp.model import FastkpModel

VOCAB = ["cat", "dog", "person", "tvmonitor"]


def make_checkpoint(path: Path, keypoints: bool, size: tuple[int, int] = (64, 64), seed: int = 0) -> Path:
    """A ResNet-18 checkpoint with one head (3 keypoints, or VOCAB at threshold 0.45)."""
    head = KeypointHead(n_keypoints=3) if keypoints else MultiLabelHead(vocab=VOCAB, threshold=0.45)
    return make_heads_checkpoint(path, [head], "landmarks" if keypoints else "pascal", size, seed)


def make_heads_checkpoint(path: Path, heads: list, task: str, size: tuple[int, int] = (64, 64),
                          seed: int = 0, box_crop: dict | None = None) -> Path:
    """A ResNet-18 checkpoint with random weights and BatchNorm statistics spread out, so
    that outputs depend clearly on the pixels; no training (trained on box crops when
    ``box_crop`` is given)."""
    torch.manual_seed(seed)
    model = FastkpModel("resnet18", heads)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_(0.0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    spec = ModelSpec(task=task, arch="resnet18", size=size, heads=heads, box_crop=box_crop)
    save_checkpoint(path, spec, model=model.eval().state_dict())
    return path


class _Flatten(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x.flatten(1)]


def make_probe(path: Path, hw: tuple[int, int]) -> Path:
    """A model in the fastkp format whose 'probabilities' are sigmoid(normalised pixels):
    its output reveals the exact pixels a program decoded (images of size ``hw``, so the
    resize inside is the identity)."""
    from fastkp.backbones import IMAGENET_MEAN, IMAGENET_STD
    from fastkp.export import DeployModule, ModelMetadata
    from fastkp.export.torchscript import save_torchscript

    head = {"name": "labels", "kind": "multilabel", "vocab": [str(i) for i in range(3 * hw[0] * hw[1])],
            "threshold": 0.5}
    meta = ModelMetadata(
        task="probe", arch="identity", input_size=tuple(hw), mean=IMAGENET_MEAN, std=IMAGENET_STD,
        heads=[head], export_format="torchscript", device="any", resize="identity", fastkp_version="0",
        torch_version=str(torch.__version__))
    save_torchscript(DeployModule(_Flatten(), meta), meta, path, freeze=False)
    return path


def probe_pixels(record: dict) -> np.ndarray:
    """The (h, w, 3) pixels a probe model saw, from its JSON record."""
    from fastkp.backbones import IMAGENET_MEAN, IMAGENET_STD

    h, w = record["height"], record["width"]
    p = np.array(list(record["probabilities"].values()), dtype=np.float64).reshape(3, h, w)
    x = np.log(p / (1 - p))
    v = (x * np.array(IMAGENET_STD)[:, None, None] + np.array(IMAGENET_MEAN)[:, None, None]) * 255
    assert np.abs(v - np.round(v)).max() < 0.05
    return np.round(v).astype(np.uint8).transpose(1, 2, 0)
