"""Keypoint errors in the network's frame, accumulated batch by batch as sums on the device
so that distributed ranks can add them up before the final division.

Over the points visible in the frame (labelled and inside it):
- ``rmse``: sqrt(mean squared per-coordinate error) in [-1, 1] units (fastai's rmse);
- ``rmse_px``: sqrt(mean of dx² + dy²) in pixels of the network input;
- ``rmse_px_image``: the same in pixels of the original images;
- ``pck`` (K > 1): share of points closer than ``PCK_ALPHA`` times the diagonal of the
  target points' box in the frame.
"""

from __future__ import annotations

import torch

from ..pipeline.codec import PCK_ALPHA, diagonal, denormalize_points, to_pixels


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
    dpx = to_pixels(d, size)
    dist = dpx.square().sum(-1).sqrt()  # (B, K)
    out = {
        "sq_err": d.square().sum(),
        "sq_dist_px": dist.square().sum(),
        "n_points": visible.sum(),
    }
    if matrix is not None:  # input-pixel offsets back through each image's linear part
        back = torch.linalg.inv(matrix[:, :, :2].double())  # (B, 2, 2)
        out["sq_dist_img"] = torch.einsum("bij,bkj->bki", back, dpx.double()).square().sum()
    if pred.shape[1] > 1:  # landmarks: within PCK_ALPHA of the target box diagonal
        rel = dist / diagonal(denormalize_points(target, size), visible).unsqueeze(1)
        out["pck_hits"] = ((rel < PCK_ALPHA) & visible).sum()
    return {k: v.double() for k, v in out.items()}


def keypoint_metrics(sums: dict[str, float]) -> dict[str, float]:
    """The metrics from sums added over batches (and ranks)."""
    s = {k: float(v) for k, v in sums.items()}
    n = max(s["n_points"], 1.0)
    m = {"rmse": (s["sq_err"] / (2 * n)) ** 0.5, "rmse_px": (s["sq_dist_px"] / n) ** 0.5}
    if "sq_dist_img" in s:
        m["rmse_px_image"] = (s["sq_dist_img"] / n) ** 0.5
    if "pck_hits" in s:
        m["pck"] = s["pck_hits"] / n
    return m
