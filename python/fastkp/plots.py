"""PNG figures: a batch with its targets, targets vs predictions, loss curves, lr_find."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def to_rgb(images: torch.Tensor, mean, std) -> np.ndarray:
    """(B, 3, H, W) normalised tensors -> (B, H, W, 3) floats in [0, 1]."""
    x = images.detach().float().cpu()
    x = x * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def _grid(n: int, max_n: int = 9):
    n = min(n, max_n)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def _px(points: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """[-1, 1] -> pixels of an (H, W) image (pixel corner at 0)."""
    h, w = hw
    return (points + 1) / 2 * np.array([w, h])


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _label_text(vec: np.ndarray, vocab: list[str], threshold: float = 0.5) -> str:
    return "; ".join(vocab[i] for i in np.flatnonzero(vec > threshold)) or "(none)"


def show_batch(batch: dict, path, *, mean, std, vocab: list[str] | None = None) -> Path:
    """A training batch with its (augmented) keypoints or labels."""
    imgs = to_rgb(batch["images"], mean, std)
    fig, axes = _grid(len(imgs))
    for i, ax in enumerate(axes):
        ax.imshow(imgs[i])
        if "keypoints" in batch:
            vis = batch["visible"][i].cpu().numpy()
            pts = _px(batch["keypoints"][i].cpu().numpy(), imgs[i].shape[:2])[vis]
            ax.scatter(pts[:, 0], pts[:, 1], s=25, c="lime", marker="+")
        if "labels" in batch and vocab:
            ax.set_title(_label_text(batch["labels"][i].cpu().numpy(), vocab), fontsize=8)
    return _save(fig, path)


def show_results(batch: dict, preds: torch.Tensor, path, *, mean, std, vocab=None, threshold=0.5) -> Path:
    """Validation images: targets (green +) against predictions (red x), or label sets."""
    imgs = to_rgb(batch["images"], mean, std)
    preds = preds.detach().float().cpu().numpy()
    fig, axes = _grid(len(imgs))
    for i, ax in enumerate(axes):
        ax.imshow(imgs[i])
        hw = imgs[i].shape[:2]
        if "keypoints" in batch:
            vis = batch["visible"][i].cpu().numpy()
            t = _px(batch["keypoints"][i].cpu().numpy(), hw)[vis]
            p = _px(preds[i], hw)
            ax.scatter(t[:, 0], t[:, 1], s=30, c="lime", marker="+", label="target")
            ax.scatter(p[:, 0], p[:, 1], s=30, c="red", marker="x", label="prediction")
        elif vocab:
            truth = _label_text(batch["labels"][i].cpu().numpy(), vocab)
            guess = _label_text(preds[i], vocab, threshold)
            ax.set_title(f"{truth}\n→ {guess}", fontsize=8)
    return _save(fig, path)


def plot_losses(history: list[dict], batch_losses: list[float], path) -> Path:
    """Training loss per batch (smoothed) and validation loss per epoch."""
    fig, ax = plt.subplots(figsize=(6, 4))
    if batch_losses:
        b = np.asarray(batch_losses)
        smooth = np.convolve(b, np.ones(min(10, len(b))) / min(10, len(b)), mode="valid")
        ax.plot(np.arange(len(smooth)) / max(len(b), 1) * len(history), smooth, label="train (batches)")
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (epoch)")
    ax.plot(epochs, [h["valid_loss"] for h in history], "s-", label="valid")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    return _save(fig, path)


def plot_lr_find(lrs: list[float], losses: list[float], suggestion: float, path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.axvline(suggestion, color="red", linestyle="--", label=f"suggested {suggestion:.2e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed loss")
    ax.legend()
    return _save(fig, path)
