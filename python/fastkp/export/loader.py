"""Load an exported model file (TorchScript, pt2 or ONNX, told apart by its contents), or a
checkpoint through the same DeployModule an export holds."""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from .. import ops  # noqa: F401  registers torch.ops.fastkp.*, which both formats call
from ..errors import ExportError
from .exporter import deploy_module
from . import formats
from .metadata import FILE_NAME, ModelMetadata, check_tta, read_metadata


class DeployedModel:
    """An exported model ready to run: ``model(images)`` with uint8 (B, H, W, 3) RGB
    images returns the single head's float32 answer (keypoints (B, K, 2) in input pixels,
    probabilities (B, C), ...), or a tuple of one answer per head. A model trained on box
    crops (``metadata.box_crop``) takes ``model(images, boxes)``, boxes float32 (B, 4)."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu"):
        self.path = Path(path).expanduser()
        self.device = torch.device(device)
        self.metadata: ModelMetadata = read_metadata(self.path)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ExportError(f"{self.path}: device {self.device} asked for, but CUDA is not available")
        self._run = formats.get(self.metadata.export_format).load(self.path, self.metadata, self.device)

    def __call__(self, images: torch.Tensor, boxes: torch.Tensor | None = None
                 ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        out = run_deployed(self._run, self.metadata, self.device, images, boxes)
        check_answers(out, self.metadata, images.size(0), self.path)
        return out

    def answers(self, images: torch.Tensor, boxes: torch.Tensor | None = None) -> list[torch.Tensor]:
        """One answer per head, in ``metadata.heads`` order, whatever the head count."""
        out = self(images, boxes)
        return list(out) if isinstance(out, tuple) else [out]

    def check_flip(self) -> None:
        """ValueError unless :meth:`flip_answers` can run: keypoint heads with a flip
        permutation, and no flip test already inside the model."""
        if self.metadata.tta is not None:
            raise ValueError(f"{self.path} already runs the {self.metadata.tta} test inside (exported with --tta)")
        check_tta("flip", self.metadata.head_objects())

    def flip_answers(self, images: torch.Tensor, boxes: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The flip test from outside the model (any export, any format): the answers for the
        images and for their mirrors (boxes mirrored too), averaged by each head's
        ``flip_average`` (x -> W - x, then the flip permutation); ValueError as :meth:`check_flip`."""
        self.check_flip()
        width = images.size(2)
        mirror_boxes = None if boxes is None else torch.stack(
            [width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
        plain, mirrored = self.answers(images, boxes), self.answers(images.flip(2), mirror_boxes)
        return [head.flip_average(a, m, centre=float(width))
                for head, a, m in zip(self.metadata.head_objects(), plain, mirrored)]


class CheckpointModel(DeployedModel):
    """A checkpoint run through the eager DeployModule its export would hold (same inputs,
    same answers), with the metadata that export would carry (``export_format`` says
    ``torchscript``, the format whose module it is)."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu", tta: str | None = None):
        self.path = Path(path).expanduser()
        self.device = torch.device(device)
        module, self.metadata, _ = deploy_module(self.path, tta=tta)
        self._run = module.to(self.device)


def run_deployed(run, meta: ModelMetadata, device: torch.device, images: torch.Tensor,
                 boxes: torch.Tensor | None):
    """Check the inputs against ``meta`` and call ``run`` (an exported model, or the eager
    DeployModule of a checkpoint) on ``device``."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.size(3) != 3 or images.numel() == 0:
        raise ValueError(f"images must be a non-empty uint8 tensor (B, H, W, 3), got "
                         f"{images.dtype} {tuple(images.shape)}")
    if (boxes is None) != (meta.box_crop is None):
        raise ValueError("this model was trained on box crops: give one box per image" if boxes is None
                         else "this model was trained without boxes: it takes images only")
    inputs = [images.to(device).contiguous()]
    if boxes is not None:
        if boxes.shape != (images.size(0), 4):
            raise ValueError(f"boxes must be (B, 4) = ({images.size(0)}, 4), got {tuple(boxes.shape)}")
        inputs.append(boxes.to(device=device, dtype=torch.float32).contiguous())
    with torch.inference_mode():
        out = run(*inputs)
    return tuple(out) if isinstance(out, (list, tuple)) else out


def row_shape(entry: dict) -> tuple[int, ...]:
    """The shape of one image's answer of the head ``entry`` (fastkp-infer's ``row_shape``)."""
    if entry["kind"] == "keypoints":
        return entry["n_keypoints"], 3 if entry.get("scores") else 2
    if entry["kind"] in ("classes", "multilabel"):
        return (len(entry["vocab"]),)
    if entry["kind"] == "values":
        return (len(entry["names"]),)
    return ()


def check_answers(out, meta: ModelMetadata, batch: int, path: Path) -> None:
    """ExportError naming ``path`` unless the model gave one answer per head of ``fastkp.json``,
    each of the shape its head decodes, as fastkp-infer checks: a file whose metadata does
    not describe its network is refused, not answered from."""
    answers = list(out) if isinstance(out, tuple) else [out]
    if len(answers) != len(meta.heads):
        raise ExportError(f"{path}: the model gives {len(answers)} output(s), {FILE_NAME} names "
                          f"{len(meta.heads)} head(s)")
    for entry, answer in zip(meta.heads, answers):
        want = (batch, *row_shape(entry))
        if tuple(answer.shape) != want:
            raise ExportError(f"{path}: head '{entry['name']}' ({entry['kind']}) expects an output of shape "
                              f"{list(want)}, the model gives {list(answer.shape)}")


def load(path: str | Path, device: str | torch.device = "cpu") -> DeployedModel:
    """The model in ``path`` on ``device``; ExportError (naming the file) if it cannot run there."""
    return DeployedModel(path, device)


def is_checkpoint(path: str | Path) -> bool:
    """A ``torch.save`` zip (a training checkpoint) rather than an exported model."""
    path = Path(path).expanduser()
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    root = names[0].split("/", 1)[0] if names else ""
    return f"{root}/data.pkl" in names and not {f"{root}/constants.pkl", f"{root}/archive_format"} & set(names)

