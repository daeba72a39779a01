"""PNG figures: a batch with its targets, targets vs predictions, loss curves, lr_find.

Figures are made with ``matplotlib.figure.Figure`` rather than pyplot, so that
writing them never touches the backend a notebook has chosen."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from .heads import Head
from .schedule import SuggestedLRs

MAX_SHOWN = 9  # images in show_batch / show_results


def to_rgb(images: torch.Tensor, mean, std) -> np.ndarray:
    """(B, 3, H, W) normalised tensors -> (B, H, W, 3) floats in [0, 1]."""
    x = images.detach().float().cpu()
    x = x * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def _grid(n: int, max_n: int = MAX_SHOWN):
    n = min(n, max_n)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3 * cols, 3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def _save(fig: Figure, path: str | Path) -> Figure:
    """Write ``fig`` as a PNG and return it (a notebook shows a returned figure inline)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return fig


def show_inline(fig: Figure) -> None:
    """Display ``fig`` when running in a Jupyter kernel (for calls that return something else)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        display(fig)


def _images(batch: dict, mean, std) -> tuple[np.ndarray, Figure, list]:
    imgs = to_rgb(batch["images"], mean, std)
    fig, axes = _grid(len(imgs))
    for ax, img in zip(axes, imgs):
        ax.imshow(img)
    return imgs, fig, axes


def show_batch(batch: dict, heads: Sequence[Head], path, *, mean, std) -> Figure:
    """A training batch with its (augmented) targets, as each head draws them."""
    imgs, fig, axes = _images(batch, mean, std)
    for i, ax in enumerate(axes):
        for head in heads:
            head.draw(ax, batch, i, imgs[i].shape[:2])
    return _save(fig, path)


def show_results(batch: dict, outs: Sequence[torch.Tensor], heads: Sequence[Head], path, *, mean, std) -> Figure:
    """Images with each head's prediction against its target (where the batch has one),
    and one legend for the figure."""
    imgs, fig, axes = _images(batch, mean, std)
    for i, ax in enumerate(axes):
        for head, out in zip(heads, outs):
            head.draw(ax, batch, i, imgs[i].shape[:2], out)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)


def plot_losses(history: list[dict], batch_losses: list[float], path) -> Figure:
    """Training loss per batch (smoothed) and validation loss per epoch."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
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


def plot_lr_find(lrs: list[float], losses: list[float], suggested: SuggestedLRs, path) -> Figure:
    """The sweep's smoothed loss against the rate, with the three suggestions marked."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(lrs, losses)
    for (name, lr), colour in zip(suggested._asdict().items(), ("red", "grey", "orange")):
        ax.axvline(lr, color=colour, linestyle="--", label=f"{name} {lr:.2e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed loss")
    ax.legend()
    return _save(fig, path)


def unique_titles(paths: Sequence[str]) -> list[str]:
    """Each path relative to the folder all of them share (file names alone may repeat)."""
    if len(paths) < 2:
        return [Path(p).name for p in paths]
    root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    return [os.path.relpath(os.path.abspath(p), root) for p in paths]
