"""The heatmap head's extra terms: DSNT's Jensen-Shannon regulariser and the mirrored map.

Nibali et al. 2018 ("Numerical Coordinate Regression with Convolutional Neural Networks")
add to the coordinate loss the Jensen-Shannon divergence between each point's heatmap
distribution (the soft-argmax's softmax) and a Gaussian of ``JS_SIGMA`` cells centred at the
target, weighted ``JS_WEIGHT`` (the paper's 1 and 1). It keeps each map one compact blob
(the coordinate loss alone is satisfied by any map whose mean is right), which is what
makes the peak probability a usable confidence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

JS_WEIGHT = 1.0
JS_SIGMA = 1.0  # heatmap cells


def cell_centres(n: int, device: torch.device) -> torch.Tensor:
    """The [-1, 1] coordinates of ``n`` cells' centres: (2j + 1) / n - 1."""
    return (2 * torch.arange(n, device=device, dtype=torch.float32) + 1) / n - 1


def gaussian_targets(target: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(B, K, h*w) normalised Gaussians of ``JS_SIGMA`` cells at ``target`` (B, K, 2) in [-1, 1]."""
    h, w = hw
    xs, ys = cell_centres(w, target.device), cell_centres(h, target.device)
    # a cell is 2/w wide in [-1, 1]: distances in cells
    dx = (xs.view(1, 1, w) - target[..., :1]) * (w / 2)
    dy = (ys.view(1, 1, h) - target[..., 1:]) * (h / 2)
    log_q = -(dy.unsqueeze(-1).square() + dx.unsqueeze(-2).square()) / (2 * JS_SIGMA**2)
    return torch.softmax(log_q.flatten(2), -1)


def js_divergence(logits: torch.Tensor, beta: float, target: torch.Tensor, visible: torch.Tensor,
                  hw: tuple[int, int]) -> torch.Tensor:
    """Mean Jensen-Shannon divergence (nats) over the visible points between softmax(beta *
    ``logits``) (B, K, h*w) and the Gaussians at ``target``; 0 when no point is visible."""
    log_p = F.log_softmax(beta * logits.float(), -1)
    p = log_p.exp()
    q = gaussian_targets(target.float(), hw)
    log_m = torch.log((p + q) / 2)
    js = 0.5 * (p * (log_p - log_m)).sum(-1) + 0.5 * (torch.xlogy(q, q) - q * log_m).sum(-1)
    vis = visible.to(js.dtype)
    return (js * vis).sum() / vis.sum().clamp_min(1.0)


def mirror_maps(flat: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Heatmaps (B, K, h*w) of a mirrored image, mirrored back (each map's columns reversed)."""
    return flat.unflatten(-1, hw).flip(-1).flatten(-2)
