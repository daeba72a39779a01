"""A trained model with its heads, without data: predict files, draw answers, save, load
and export. :class:`fastkp.learner.Learner` adds the data and the training on top;
:func:`fastkp.learner.load_learner` returns one of these from a checkpoint.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from . import heads as heads_mod
from . import plots
from .checkpoint import ModelSpec, load_checkpoint, save_checkpoint
from .config import Config, for_model
from .data import Sample, read_header
from .errors import CheckpointError, UsageError
from .export import ModelMetadata, export_model
from .loop import outputs, predictions
from .model import FastkpModel
from .pipeline import build_loader
from .pipeline.boxes import BoxCrop, check_boxes
from .runtime import Runtime


class Predictor:
    """``spec`` describes the model, ``config`` how it runs (device, size, batch, amp, ...);
    files go to ``out`` (``out/models`` for :meth:`save`)."""

    def __init__(self, spec: ModelSpec, config: Config, out: str | Path = "runs/fastkp", *,
                 load_pretrained: bool = False):
        self.spec, self.config, self.heads = spec, config, spec.heads
        runtime = Runtime.of(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device, self.threads = runtime.device, runtime.threads
        self.out = Path(out).expanduser()
        self.model = FastkpModel(spec.arch, self.heads, spec.size, load_pretrained).to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self._forward = torch.compile(self.model) if config.compile else self.model
        self.amp, self.amp_dtype, self.load_dtype = runtime.amp, runtime.amp_dtype, runtime.load_dtype

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str = "auto", out: str | Path | None = None) -> Predictor:
        """The model of a checkpoint (``last.pth``, ``best.pth``, ``models/NAME.pth``), with the
        run's settings where the checkpoint has them."""
        ckpt = load_checkpoint(path)
        spec: ModelSpec = ckpt["spec"]
        config = replace(ckpt["config"] or for_model(spec.task, spec.arch, spec.size), device=device, compile=False)
        predictor = cls(spec, config, out if out is not None else Path(path).expanduser().parent)
        predictor._load_weights(ckpt, path)
        return predictor

    def _load_weights(self, ckpt: dict, path: str | Path) -> None:
        try:
            self.model.load_state_dict(ckpt["model"])
        except (KeyError, RuntimeError) as e:
            raise CheckpointError(f"{path}: model weights do not match the saved description ({e})") from None

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def _images(self, batch: dict) -> torch.Tensor:
        """The loader emits channels_last; NCHW models get a contiguous copy."""
        return batch["images"] if self.config.channels_last else batch["images"].contiguous()

    def _outputs(self, loader, tta: str | None = None):
        if tta not in (None, "flip"):
            raise UsageError(f"tta must be None or 'flip', got {tta!r}", setting="tta")
        return outputs(self.model, self._forward, loader, self._autocast, self._images,
                       self.heads if tta == "flip" else None)

    def _file_loader(self, paths: list[str | Path], boxes: list | None = None) -> tuple[list[Sample], object]:
        """Samples and a loader for image files; a model trained on box crops crops ``boxes``
        (one (x0, y0, x1, y1) per file; default: each whole image)."""
        samples = [Sample(str(Path(p).expanduser()), read_header(p, max_pixels=self.config.max_pixels).size)
                   for p in paths]
        crop = BoxCrop.from_dict(self.spec.box_crop)
        if boxes is not None and crop is None:
            raise UsageError("this model was trained without boxes: it takes images only", setting="boxes")
        if crop is not None:
            if boxes is None:
                print("fastkp: this model crops boxes and none was given: each image's whole frame is its box",
                      file=sys.stderr)
            given = boxes if boxes is not None else [[0.0, 0.0, s.size[1], s.size[0]] for s in samples]
            if len(given) != len(samples):
                raise UsageError(f"{len(given)} boxes for {len(samples)} images", setting="boxes")
            for s, box in zip(samples, check_boxes(np.asarray(given, np.float64).reshape(-1, 4), "boxes")):
                s.box = box
        loader = build_loader(samples, size=self.config.size, batch_size=min(self.config.bs, len(samples)),
                              train=False, device=self.device.type, dtype=self.load_dtype,
                              num_threads=max(1, self.threads), mean=self.spec.mean, std=self.spec.std,
                              box_crop=crop, max_pixels=self.config.max_pixels)
        return samples, loader

    def predict(self, paths: list[str | Path], boxes: list | None = None, tta: str | None = None,
                min_score: float = 0.0) -> list[dict]:
        """One record per image file, the fields ``fastkp.predict`` prints (keypoints in the
        file's pixels, a ``score`` per point from a heatmap head, labels and probabilities,
        ...); ``boxes``: one per file for a model trained on box crops (default: whole
        images); ``tta="flip"``: the flip test; ``min_score``: points scored below it are
        null, as ``--min-score``."""
        heads_mod.check_min_score(min_score, self.heads)
        samples, loader = self._file_loader(paths, boxes)
        return predictions(self._outputs(loader, tta), samples, self.heads, self.config.size,
                           cropped=self.spec.box_crop is not None, min_score=min_score)

    def show_results(self, paths: list[str | Path] | None = None, path: str | Path | None = None) -> Figure:
        """Images with each head's prediction (and target, where the images have one):
        the given files, as the network sees them. Written to ``path`` (default
        ``OUT/show_results.png``) and returned."""
        if paths is None:
            raise CheckpointError("this model has no validation data; give image files to show_results")
        _, loader = self._file_loader(paths[:plots.MAX_SHOWN])
        batch, outs = next(self._outputs(loader))
        return plots.show_results(batch, outs, self.heads, path or self.out / "show_results.png",
                                  mean=self.spec.mean, std=self.spec.std)

    def save(self, name: str) -> Path:
        """The weights and description as ``OUT/models/NAME.pth`` (a checkpoint that
        :meth:`load`, :func:`fastkp.learner.load_learner` and ``fastkp.export`` read)."""
        path = self.out / "models" / f"{name}.pth"
        save_checkpoint(path, self.spec, self.config, model=self.model.state_dict())
        return path

    def load(self, name: str) -> Predictor:
        """Weights from ``OUT/models/NAME.pth`` (or a checkpoint path) into this model."""
        path = self.out / "models" / f"{name}.pth" if "/" not in name and not name.endswith(".pth") else Path(name)
        ckpt = load_checkpoint(path, map_location=self.device)
        self._load_weights(ckpt, path)
        return self

    def export(self, path: str | Path, format: str = "torchscript", *, freeze: bool = True,
               device: str = "cpu", tta: str | None = None) -> ModelMetadata:
        """Export this model as ``fastkp.export`` does a checkpoint (TorchScript, pt2 or ONNX;
        ``tta="flip"``: with the flip test inside)."""
        state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        model = FastkpModel(self.spec.arch, self.heads, self.spec.size)
        model.load_state_dict(state)
        return export_model(model.eval(), self.spec, path, format, freeze, device, tta)


def load_learner(checkpoint: str | Path, *, device: str = "auto", out: str | Path | None = None) -> Predictor:
    """A trained model from a checkpoint, without its data: ``predict``, ``show_results`` on
    given files, ``export``, ``save``/``load``."""
    return Predictor.from_checkpoint(checkpoint, device=device, out=out)
