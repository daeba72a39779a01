"""Keypoint heads: K (x, y) points, trained in [-1, 1] coordinates of the network input.

The output layer is the fused ``SigmoidRange(-1, 1)`` reshaped to (B, K, 2). The
loss covers labelled, visible coordinates only: ``mse`` (the book), ``l1`` (the
"Modern Computer Vision with PyTorch" facial-keypoints chapter) or ``smooth_l1``
(Huber-like, quadratic below ``SMOOTH_L1_BETA`` = 0.05 in [-1, 1] units, linear
above). Exported models answer in pixels of the input image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Sample
from ..errors import UsageError
from .. import kp_metrics
from ..metrics import keypoint_metrics, keypoint_sums
from ..nn import SigmoidRange
from ..pipeline import transform_points
from ..pipeline.augment import no_augmentation
from ..pipeline.boxes import BoxCrop
from ..pipeline.geometry import denormalize_points, inside, invert, normalize_points
from .base import Head, f32

SMOOTH_L1_BETA = 0.05
Y_RANGE = (-1.0, 1.0)


class PointsOutput(nn.Module):
    """The fused sigmoid into ``y_range``, then (B, 2K) -> (B, K, 2)."""

    def __init__(self, lo: float, hi: float):
        super().__init__()
        self.y_range = SigmoidRange(lo, hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.y_range(x).view(x.shape[0], -1, 2)


class PixelPoints(nn.Module):
    """Exported output: [-1, 1] points -> pixels of the input image, for a network input that
    squashes the window at ``origin`` (B, 2) of size ``frame`` (B, 2) (the whole image, or a
    box's window)."""

    def forward(self, out: torch.Tensor, origin: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        return origin.unsqueeze(1) + (out + 1.0) * 0.5 * frame.unsqueeze(1)


def unflip_points(points: torch.Tensor, flip_index: torch.Tensor) -> torch.Tensor:
    """Points (B, K, 2) in [-1, 1] predicted on mirrored images, as points of the originals:
    point i is the mirror's point ``flip_index[i]`` with x negated."""
    mirrored = points.index_select(1, flip_index)
    return torch.stack([-mirrored[..., 0], mirrored[..., 1]], -1)


def _direction(metric: str) -> str:
    return "max" if metric.startswith(("auc", "pck", "oks")) else "min"


def _to_3x3(m: torch.Tensor) -> torch.Tensor:
    bottom = torch.zeros(m.shape[0], 1, 3, dtype=m.dtype, device=m.device)
    bottom[:, 0, 2] = 1.0
    return torch.cat([m, bottom], 1)


def _normalised(samples: Sequence[Sample], size: tuple[int, int],
                box_crop: BoxCrop | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Samples' points in [-1, 1] of the network input as validation frames them (0 where
    not visible), their visible mask (labelled and inside) and the frames' matrices."""
    windows = None if box_crop is None else box_crop.windows(np.stack([s.box for s in samples]), size)
    matrix = no_augmentation(np.array([s.size for s in samples]), size, windows).matrix
    out = transform_points(matrix, np.stack([s.keypoints for s in samples]).astype(np.float64))
    visible = inside(out, size)
    pts = np.where(visible[..., None], normalize_points(out, size), 0.0)
    return torch.from_numpy(pts).float(), torch.from_numpy(visible), torch.from_numpy(matrix).float()


class KeypointHead(Head):
    """``boxes``: the samples carry boxes (``nme_bbox`` and a box-normalised ``pck_0.1``);
    ``oks``: they are the 17 COCO person keypoints (``oks_ap``)."""

    kind = "keypoints"
    losses = ("mse", "l1", "smooth_l1")
    # rmse: per coordinate in [-1, 1] units (fastai's); rmse_px: point distance in network-input
    # pixels; rmse_px_image: in original-image pixels; nme, pck: normalised by the target box
    # diagonal (K > 1 only); then the papers' metrics of fastkp.kp_metrics, in image pixels
    directions = {"rmse": "min", "rmse_px": "min", "rmse_px_image": "min", "nme": "min", "pck": "max"}
    monitor = "rmse_px"

    def __init__(self, name: str = "keypoints", *, n_keypoints: int, names: Sequence[str] | None = None,
                 flip_index: Sequence[int] | None = None, loss: str | None = None, weight: float = 1.0,
                 boxes: bool = False, oks: bool = False):
        super().__init__(name, loss=loss, weight=weight)
        if int(n_keypoints) != n_keypoints or n_keypoints < 1:
            raise UsageError(f"n_keypoints must be a positive int, got {n_keypoints!r}")
        self.n_keypoints = int(n_keypoints)
        self.boxes, self.oks = bool(boxes), bool(oks)
        if self.oks and (not self.boxes or self.n_keypoints != len(kp_metrics.COCO_SIGMAS)):
            raise UsageError(f"oks_ap needs boxes and the {len(kp_metrics.COCO_SIGMAS)} COCO person keypoints")
        self.directions = {**KeypointHead.directions, **{m: _direction(m) for m in self.paper_metrics()}}
        for what, seq in (("names", names), ("flip_index", flip_index)):
            if seq is not None and len(seq) != self.n_keypoints:
                raise UsageError(f"{what} has {len(seq)} entries for {self.n_keypoints} keypoints")
        self.names = list(names) if names is not None else None
        self.flip_index = [int(i) for i in flip_index] if flip_index is not None else None

    def paper_metrics(self) -> list[str]:
        """The kp_metrics names this head reports (``nme`` keeps its own meaning above)."""
        if self.n_keypoints == 1 and not self.boxes:
            return []
        return [m for m in kp_metrics.metric_names(self.n_keypoints, self.boxes, self.oks) if m != "nme"]

    @property
    def n_out(self) -> int:
        return 2 * self.n_keypoints

    def output_layer(self) -> nn.Module:
        return PointsOutput(*Y_RANGE)

    def loader_args(self) -> dict[str, Any]:
        return {"flip_index": self.flip_index}

    def loss(self, out, batch):
        vis = batch["visible"].unsqueeze(-1).to(torch.float32)
        pred, target = out.float(), batch["keypoints"]
        if self.loss_name == "mse":
            err = (pred - target).square()
        elif self.loss_name == "l1":
            err = (pred - target).abs()
        else:
            err = F.smooth_l1_loss(pred, target, reduction="none", beta=SMOOTH_L1_BETA)
        return (err * vis).sum() / (2 * vis.sum()).clamp_min(1.0)

    def batch_stats(self, out, batch, size):
        sums = keypoint_sums(out, batch["keypoints"], batch["visible"], size, batch.get("matrix"))
        if not self.paper_metrics() or "matrix" not in batch:
            return sums
        back = torch.linalg.inv(_to_3x3(batch["matrix"].double()))[:, :2]  # input pixels -> image pixels
        frame = torch.tensor([size[1] / 2.0, size[0] / 2.0], dtype=torch.float64, device=out.device)

        def image_px(points: torch.Tensor) -> torch.Tensor:
            px = (points.double() + 1.0) * frame
            return px @ back[:, :, :2].transpose(1, 2) + back[:, None, :, 2]

        arrays = {"pred_px": image_px(out), "target_px": image_px(batch["keypoints"]), "visible": batch["visible"]}
        if self.boxes:
            arrays["boxes"] = batch["boxes"]
        return {**sums, **arrays}

    def metrics(self, stats):
        out = keypoint_metrics({k: v for k, v in stats.items() if np.ndim(v) == 0})
        if "pred_px" in stats and self.paper_metrics():
            report = kp_metrics.keypoint_report(stats["pred_px"], stats["target_px"],
                                                np.asarray(stats["visible"], np.int8) * 2,
                                                stats.get("boxes"), coco=self.oks)
            out.update({m: report[m] for m in self.paper_metrics()})
        return out

    def columns(self) -> list[str]:
        return list(self.directions) if self.n_keypoints > 1 else ["rmse", "rmse_px", "rmse_px_image",
                                                                   *self.paper_metrics()]

    def legend(self, size):
        return (f"rmse_px: pixels of the {size[1]}x{size[0]} network input (monitored by default); "
                "rmse_px_image: pixels of the original images")

    def baseline(self, train, valid, size, box_crop=None):
        """Always predicting the mean labelled training point, in the frame validation shows
        the network (the whole image, or each box's window)."""
        train_pts, train_vis, _ = _normalised(train, size, box_crop)
        valid_pts, vis, matrix = _normalised(valid, size, box_crop)
        w = train_vis.unsqueeze(-1).float()
        mean = ((train_pts * w).sum(0) / w.sum(0).clamp_min(1)).expand_as(valid_pts)
        batch = {"keypoints": valid_pts, "visible": vis, "matrix": matrix}
        if self.boxes:
            batch["boxes"] = torch.from_numpy(np.stack([s.box for s in valid]))
        stats = self.batch_stats(mean, batch, size)
        return self.metrics({k: float(v) if v.dim() == 0 else v.cpu().numpy() for k, v in stats.items()})

    def predict(self, out, batch, size):
        px = denormalize_points(out.float().cpu().numpy(), size)
        return transform_points(invert(batch["matrix"].double().cpu().numpy()), px)

    def deploy_layer(self) -> nn.Module:
        return PixelPoints()

    def record(self, answer):
        points = {"keypoints": [[f32(x), f32(y)] for x, y in np.asarray(answer).reshape(-1, 2)]}
        return {**points, "names": self.names} if self.names is not None else points

    def export_entry(self):
        return {**super().export_entry(), "n_keypoints": self.n_keypoints, "y_range": list(Y_RANGE),
                "names": self.names, "flip_index": self.flip_index}

    def state(self):
        return {**super().state(), "flip_index": self.flip_index, "boxes": self.boxes, "oks": self.oks}

    @classmethod
    def from_state(cls, state):
        return cls(state["name"], n_keypoints=state["n_keypoints"], names=state.get("names"),
                   flip_index=state.get("flip_index"), loss=state.get("loss"), weight=state.get("weight", 1.0),
                   boxes=state.get("boxes", False), oks=state.get("oks", False))

    def flip_average(self, out: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
        """The flip test: ``out`` (B, K, 2) averaged with the points predicted on the mirrored
        images, brought back (UsageError without a flip permutation)."""
        if self.flip_index is None:
            raise UsageError(f"the flip test needs a flip permutation; head {self.name!r} has none")
        index = torch.tensor(self.flip_index, device=out.device)
        return (out + unflip_points(mirrored, index)) / 2

    def draw(self, ax, batch, i, hw, out=None):
        if "keypoints" in batch:  # images from files have no target
            vis = batch["visible"][i].cpu().numpy()
            target = denormalize_points(batch["keypoints"][i].float().cpu().numpy(), hw)[vis]
            ax.scatter(target[:, 0], target[:, 1], s=30, c="lime", marker="+", label="target")
        if out is not None:
            pred = denormalize_points(out[i].float().cpu().numpy(), hw)
            ax.scatter(pred[:, 0], pred[:, 1], s=30, c="red", marker="x", label="prediction")
            self._name_points(ax, pred)

    def _name_points(self, ax, points: np.ndarray) -> None:
        for name, (x, y) in zip(self.names or [], points):
            ax.annotate(name, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=6, color="white")

    def draw_answer(self, ax, answer):
        pts = np.asarray(answer).reshape(-1, 2)
        ax.scatter(pts[:, 0], pts[:, 1], s=30, c="red", edgecolors="white", linewidths=1)
        self._name_points(ax, pts)
