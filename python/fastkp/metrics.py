"""Validation metrics, accumulated batch by batch as sums so that distributed
ranks can add them up before the final division.

Keypoints (over labelled, visible points only):
- ``rmse``: sqrt(mean squared per-coordinate error) in [-1, 1] units (fastai's rmse);
- ``rmse_px``: sqrt(mean of dx² + dy²) in pixels of the network input;
- ``rmse_px_image``: the same in pixels of the original images;
- ``nme``: mean point distance divided by the diagonal of the target points'
  bounding box (landmarks), and ``pck``: share of points closer than 0.1 of it.
Classification: ``accuracy_multi`` at a threshold, ``mAP`` (mean over classes
of average precision), the threshold that maximises accuracy_multi and the
share of images it leaves without any label.
"""

from __future__ import annotations

import numpy as np
import torch

PCK_ALPHA = 0.1
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def keypoint_sums(
    pred: torch.Tensor, target: torch.Tensor, visible: torch.Tensor, size: tuple[int, int],
    matrix: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Sums for one batch as float64 tensors on the batch's device (no host sync):
    pred/target (B, K, 2) in [-1, 1], visible (B, K), size (H, W) of the network input;
    ``matrix`` (B, 2, 3), each image's source-to-input pixel matrix, adds the squared
    distances in source-image pixels."""
    pred, target, visible = pred.float(), target.float(), visible.bool()
    d = (pred - target) * visible.unsqueeze(-1)
    h, w = size
    dpx = d * torch.tensor([w / 2.0, h / 2.0], device=d.device)
    dist = dpx.square().sum(-1).sqrt()  # (B, K)
    out = {
        "sq_err": d.square().sum(),
        "sq_dist_px": dist.square().sum(),
        "n_points": visible.sum(),
    }
    if matrix is not None:  # input-pixel offsets back through each image's linear part
        back = torch.linalg.inv(matrix[:, :, :2].double())  # (B, 2, 2)
        out["sq_dist_img"] = torch.einsum("bij,bkj->bki", back, dpx.double()).square().sum()
    if pred.shape[1] > 1:  # landmarks: normalise by the target box diagonal
        tpx = (target + 1) / 2 * torch.tensor([w, h], device=d.device, dtype=torch.float32)
        big = torch.finfo(torch.float32).max
        lo = torch.where(visible.unsqueeze(-1), tpx, big).amin(1)
        hi = torch.where(visible.unsqueeze(-1), tpx, -big).amax(1)
        diag = (hi - lo).norm(dim=-1).clamp_min(1.0).unsqueeze(1)  # (B, 1)
        rel = dist / diag
        out["nme_sum"] = (rel * visible).sum()
        out["pck_hits"] = ((rel < PCK_ALPHA) & visible).sum()
    return {k: v.double() for k, v in out.items()}


def keypoint_metrics(sums: dict[str, float]) -> dict[str, float]:
    """The metrics from sums added over batches (and ranks)."""
    s = {k: float(v) for k, v in sums.items()}
    n = max(s["n_points"], 1.0)
    m = {"rmse": (s["sq_err"] / (2 * n)) ** 0.5, "rmse_px": (s["sq_dist_px"] / n) ** 0.5}
    if "sq_dist_img" in s:
        m["rmse_px_image"] = (s["sq_dist_img"] / n) ** 0.5
    if "nme_sum" in s:
        m["nme"] = s["nme_sum"] / n
        m["pck"] = s["pck_hits"] / n
    return m


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP of one class: mean precision at the rank of each positive (NaN without positives)."""
    order = np.argsort(-scores, kind="stable")
    hits = labels[order] > 0.5
    if not hits.any():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def classification_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """probs, labels (N, C); mAP over classes with at least one positive."""
    aps = [average_precision(probs[:, c], labels[:, c]) for c in range(labels.shape[1])]
    aps = [a for a in aps if not np.isnan(a)]
    truth = labels > 0.5
    acc = {float(t): float(((probs > t) == truth).mean()) for t in THRESHOLDS}
    best = max(acc, key=acc.get)
    return {
        "accuracy_multi": float(((probs > threshold) == truth).mean()),
        "mAP": float(np.mean(aps)) if aps else float("nan"),
        "best_threshold": best,
        "best_accuracy_multi": acc[best],
        "best_threshold_unlabelled": float((probs <= best).all(axis=1).mean()) if len(probs) else 0.0,
    }
