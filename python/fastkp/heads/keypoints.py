"""Keypoint heads: K (x, y) points, trained in [-1, 1] coordinates of the network input.

Regression heads (``fastai``, ``linear``) end with the fused ``SigmoidRange(-1, 1)``
reshaped to (B, K, 2). The ``heatmap`` head (:mod:`fastkp.heads.networks`) gives
(B, K, 3 + h*w): the fused soft-argmax's points, each point's score (the peak
probability of its heatmap's softmax, uncalibrated) and the heatmaps. The loss covers
labelled, visible coordinates only: ``mse`` (the book), ``l1`` (the "Modern Computer
Vision with PyTorch" facial-keypoints chapter) or ``smooth_l1`` (Huber-like, quadratic
below ``SMOOTH_L1_BETA`` = 0.05 in [-1, 1] units, linear above); the heatmap head adds
DSNT's Jensen-Shannon term (:mod:`fastkp.heads.heatmaps`). Exported models answer in
pixels of the input image, (B, K, 2), or (B, K, 3) with the scores (``"scores": true``
in the head's ``fastkp.json`` entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Sample
from ..data.coco import COCO_SIGMAS
from ..errors import UsageError
from ..metrics.evaluator import KeypointEvaluator
from ..metrics.frame import keypoint_metrics, keypoint_sums
from ..nn import SigmoidRange
from ..pipeline import codec
from ..pipeline.augment import no_augmentation
from ..pipeline.boxes import BoxCrop
from .base import Head, f32
from .heatmaps import JS_WEIGHT, js_divergence, mirror_maps
from .networks import BETA, HeatmapNet, deconvolutions

SMOOTH_L1_BETA = 0.05
Y_RANGE = (-1.0, 1.0)
LABELS = ("points_px", "visibility", "image_id")  # the data set's own labels: what the evaluator scores


class PointsOutput(nn.Module):
    """The fused sigmoid into ``y_range``, then (B, 2K) -> (B, K, 2)."""

    def __init__(self, lo: float, hi: float):
        super().__init__()
        self.y_range = SigmoidRange(lo, hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.y_range(x).view(x.shape[0], -1, 2)


class PixelPoints(nn.Module):
    """Exported output: [-1, 1] points -> pixels of the input image (codec.decode_window),
    followed by each point's score when the head has them."""

    def __init__(self, scores: bool = False):
        super().__init__()
        self.scores = scores

    def forward(self, out: torch.Tensor, origin: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        points = codec.decode_window(out[..., :2], origin, frame)
        return torch.cat([points, out[..., 2:3]], -1) if self.scores else points


def _direction(metric: str) -> str:
    return "max" if metric.startswith(("auc", "pck", "oks")) else "min"


def _frame_batch(samples: Sequence[Sample], size: tuple[int, int], box_crop: BoxCrop | None) -> dict:
    """The validation batch of ``samples`` without images: targets in the frame validation
    shows the network (the whole image, or each box's window), and the data set's labels."""
    windows = None if box_crop is None else box_crop.windows(np.stack([s.box for s in samples]), size)
    matrix = no_augmentation(np.array([s.size for s in samples]), size, windows).matrix
    points, visible = codec.encode(np.stack([s.keypoints for s in samples]), matrix, size)
    batch = {"keypoints": torch.from_numpy(points), "visible": torch.from_numpy(visible),
             "matrix": torch.from_numpy(matrix).float()}
    batch.update((k, torch.from_numpy(v)) for k, v in zip(LABELS, codec.labels(samples)))
    if (areas := codec.areas(samples)) is not None:
        batch["area"] = torch.from_numpy(areas)
    if all(s.box is not None for s in samples):
        batch["boxes"] = torch.from_numpy(np.stack([s.box for s in samples]))
    return batch


class KeypointHead(Head):
    """``boxes``: the samples carry boxes (``nme_bbox`` and a box-normalised ``pck_0.1``);
    ``oks``: they are the 17 COCO person keypoints (``oks_ap``)."""

    kind = "keypoints"
    losses = ("mse", "l1", "smooth_l1")
    # rmse: per coordinate in [-1, 1] units (fastai's); rmse_px: point distance in network-input
    # pixels; rmse_px_image: in original-image pixels; pck: within 0.1 of the target box diagonal
    # in the frame (K > 1 only); then the evaluator's metrics (fastkp.metrics.evaluator), nme
    # first: the papers' metrics in image pixels against the data set's labels
    directions = {"rmse": "min", "rmse_px": "min", "rmse_px_image": "min", "nme": "min", "pck": "max"}
    monitor = "rmse_px"
    batch_keys = ("keypoints", "visible", "boxes", "area", *LABELS)  # area: OKS's, where the data gives one
    head_types = ("fastai", "linear", "heatmap")

    def __init__(self, name: str = "keypoints", *, n_keypoints: int, names: Sequence[str] | None = None,
                 flip_index: Sequence[int] | None = None, loss: str | None = None, weight: float = 1.0,
                 boxes: bool = False, oks: bool = False, head_type: str = "fastai"):
        super().__init__(name, loss=loss, weight=weight, head_type=head_type)
        self.heatmap_hw: tuple[int, int] | None = None  # set by network()
        if int(n_keypoints) != n_keypoints or n_keypoints < 1:
            raise UsageError(f"n_keypoints must be a positive int, got {n_keypoints!r}")
        self.n_keypoints = int(n_keypoints)
        self.boxes, self.oks = bool(boxes), bool(oks)
        if self.oks and (not self.boxes or self.n_keypoints != len(COCO_SIGMAS)):
            raise UsageError(f"oks_ap needs boxes and the {len(COCO_SIGMAS)} COCO person keypoints")
        self.evaluator = KeypointEvaluator(self.n_keypoints, self.boxes, self.oks)
        self.directions = {**KeypointHead.directions, **{m: _direction(m) for m in self.paper_metrics()}}
        for what, seq in (("names", names), ("flip_index", flip_index)):
            if seq is not None and len(seq) != self.n_keypoints:
                raise UsageError(f"{what} has {len(seq)} entries for {self.n_keypoints} keypoints")
        self.names = list(names) if names is not None else None
        self.flip_index = [int(i) for i in flip_index] if flip_index is not None else None

    def paper_metrics(self) -> list[str]:
        """The evaluator's metrics this head reports: none for one point without a box (nothing
        to normalise by), and no ``nme`` for one point (a one-point box has no diagonal)."""
        if self.n_keypoints == 1 and not self.boxes:
            return []
        return [m for m in self.evaluator.names() if m != "nme" or self.n_keypoints > 1]

    @property
    def n_out(self) -> int:
        return 2 * self.n_keypoints

    @property
    def scores(self) -> bool:
        """Whether the answers carry a score per point (the heatmap head's)."""
        return self.head_type == "heatmap"

    def output_layer(self) -> nn.Module:
        return PointsOutput(*Y_RANGE)

    def network(self, n_features, size, feature_hw=None):
        if self.head_type != "heatmap":
            return super().network(n_features, size, feature_hw)
        if feature_hw is None:
            raise UsageError(f"head {self.name!r}: a heatmap network needs the body's feature map size")
        n_up = deconvolutions(size[1] / feature_hw[1])
        self.heatmap_hw = (feature_hw[0] * 2**n_up, feature_hw[1] * 2**n_up)
        return HeatmapNet(n_features, self.n_keypoints, n_up)

    @staticmethod
    def points(out: torch.Tensor) -> torch.Tensor:
        """The (B, K, 2) points of a network output (a heatmap head's carries more columns)."""
        return out[..., :2]

    def loader_args(self) -> dict[str, Any]:
        return {"flip_index": self.flip_index}

    def loss(self, out, batch):
        vis = batch["visible"].unsqueeze(-1).to(torch.float32)
        pred, target = self.points(out).float(), batch["keypoints"]
        if self.loss_name == "mse":
            err = (pred - target).square()
        elif self.loss_name == "l1":
            err = (pred - target).abs()
        else:
            err = F.smooth_l1_loss(pred, target, reduction="none", beta=SMOOTH_L1_BETA)
        loss = (err * vis).sum() / (2 * vis.sum()).clamp_min(1.0)
        if self.head_type != "heatmap":
            return loss
        maps = out[..., 3:]
        if self.heatmap_hw is None or maps.shape[-1] != self.heatmap_hw[0] * self.heatmap_hw[1]:
            raise UsageError(f"head {self.name!r}: heatmap outputs of {maps.shape[-1]} cells do not match the "
                             f"network this head built ({self.heatmap_hw})")
        return loss + JS_WEIGHT * js_divergence(maps, BETA, target, batch["visible"], self.heatmap_hw)

    def batch_stats(self, out, batch, size):
        out = self.points(out)
        sums = keypoint_sums(out, batch["keypoints"], batch["visible"], size, batch.get("matrix"))
        if not self.paper_metrics() or not {"matrix", *LABELS} <= batch.keys():  # a batch made by hand
            return sums
        arrays = {"pred_px": codec.decode(out, batch["matrix"], size), **{k: batch[k] for k in LABELS}}
        if self.boxes:
            arrays["boxes"] = batch["boxes"]
        if self.oks and "area" in batch:
            arrays["area"] = batch["area"]
        return {**sums, **arrays}

    def metrics(self, stats):
        out = keypoint_metrics({k: v for k, v in stats.items() if np.ndim(v) == 0})
        if "pred_px" in stats:
            report = self.evaluator.report(stats["pred_px"], stats["points_px"], stats["visibility"],
                                           stats.get("boxes"), stats["image_id"], stats.get("area"))
            out.update({m: report[m] for m in self.paper_metrics()})
        return {m: out[m] for m in self.directions if m in out}

    def columns(self) -> list[str]:
        return list(self.directions) if self.n_keypoints > 1 else ["rmse", "rmse_px", "rmse_px_image",
                                                                   *self.paper_metrics()]

    def legend(self, size):
        return (f"rmse_px: pixels of the {size[1]}x{size[0]} network input (monitored by default); "
                "rmse_px_image: pixels of the original images")

    def baseline(self, train, valid, size, box_crop=None):
        """Always predicting the mean labelled training point, in the frame validation shows
        the network (the whole image, or each box's window)."""
        known = _frame_batch(train, size, box_crop)
        batch = _frame_batch(valid, size, box_crop)
        w = known["visible"].unsqueeze(-1).float()
        mean = ((known["keypoints"] * w).sum(0) / w.sum(0).clamp_min(1)).expand_as(batch["keypoints"])
        stats = self.batch_stats(mean, batch, size)
        return self.metrics({k: float(v) if v.dim() == 0 else v.cpu().numpy() for k, v in stats.items()})

    def predict(self, out, batch, size):
        out = out.float().cpu().numpy()
        points = codec.decode(out[..., :2], batch["matrix"].cpu().numpy(), size)
        return np.concatenate([points, out[..., 2:3]], -1) if self.scores else points

    def deploy_layer(self) -> nn.Module:
        return PixelPoints(self.scores)

    def record(self, answer):
        answer = np.asarray(answer).reshape(-1, 3 if self.scores else 2)
        fields: dict[str, Any] = {"keypoints": [[f32(x), f32(y)] for x, y in answer[:, :2]]}
        if self.scores:
            fields["score"] = [f32(s) for s in answer[:, 2]]
        return {**fields, "names": self.names} if self.names is not None else fields

    def blank_below(self, answer: np.ndarray, min_score: float) -> np.ndarray:
        """``answer`` with the points scored below ``min_score`` set to NaN (printed as null),
        as DeepLabCut users drop points under ``pcutoff``; unchanged for heads without scores."""
        if not self.scores or min_score <= 0:
            return answer
        blanked = np.array(answer, dtype=np.float32).reshape(-1, self.n_keypoints, 3)
        blanked[..., :2][blanked[..., 2] < min_score] = np.nan
        return blanked.reshape(np.shape(answer))

    def export_entry(self):
        return {**super().export_entry(), "n_keypoints": self.n_keypoints, "y_range": list(Y_RANGE),
                "names": self.names, "flip_index": self.flip_index, "scores": self.scores}

    def state(self):
        hw = {"heatmap_hw": list(self.heatmap_hw)} if self.heatmap_hw is not None else {}
        return {**super().state(), "flip_index": self.flip_index, "boxes": self.boxes, "oks": self.oks, **hw}

    @classmethod
    def from_state(cls, state):
        head = cls(state["name"], n_keypoints=state["n_keypoints"], names=state.get("names"),
                   flip_index=state.get("flip_index"), loss=state.get("loss"), weight=state.get("weight", 1.0),
                   boxes=state.get("boxes", False), oks=state.get("oks", False),
                   head_type=state.get("head_type", "fastai"))
        if state.get("heatmap_hw") is not None:  # a checkpoint's: its loss needs the maps' shape
            head.heatmap_hw = tuple(int(v) for v in state["heatmap_hw"])
        return head

    @property
    def supports_flip(self) -> bool:
        return self.flip_index is not None

    def flip_average(self, out: torch.Tensor, mirrored: torch.Tensor, centre: float = 0.0) -> torch.Tensor:
        """The flip test: ``out`` (B, K, 2) averaged with the points found on the mirrored
        images, brought back through the flip permutation (codec.mirror)."""
        self.check_flip()
        index = torch.tensor(self.flip_index, device=out.device)
        back = codec.mirror(mirrored, index, centre)
        if self.heatmap_hw is not None and out.shape[-1] > 3:  # a network output: the maps mirror too
            back = torch.cat([back[..., :3], mirror_maps(back[..., 3:], self.heatmap_hw)], -1)
        return (out + back) / 2

    def draw(self, ax, batch, i, hw, out=None):
        if "keypoints" in batch:  # images from files have no target
            vis = batch["visible"][i].cpu().numpy()
            target = codec.denormalize_points(batch["keypoints"][i].float().cpu().numpy(), hw)[vis]
            ax.scatter(target[:, 0], target[:, 1], s=30, c="lime", marker="+", label="target")
        if out is not None:
            pred = codec.denormalize_points(self.points(out[i]).float().cpu().numpy(), hw)
            ax.scatter(pred[:, 0], pred[:, 1], s=30, c="red", marker="x", label="prediction")
            self._name_points(ax, pred)

    def _name_points(self, ax, points: np.ndarray) -> None:
        for name, (x, y) in zip(self.names or [], points):
            ax.annotate(name, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=6, color="white")

    def draw_answer(self, ax, answer):
        pts = np.asarray(answer).reshape(-1, 3 if self.scores else 2)[:, :2]
        ax.scatter(pts[:, 0], pts[:, 1], s=30, c="red", edgecolors="white", linewidths=1)
        self._name_points(ax, pts)
