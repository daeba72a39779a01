"""What ``python -m fastkp.evaluate`` writes: the scores of a model on a labelled set as
``metrics.json``, ``per_image.csv``, ``ced.png`` and ``worst.png`` (see its docstring)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .metrics import keypoints as kp_metrics
from .atomic import atomic_writer
from .data import Sample
from .pipeline import codec
from .pipeline.decode import decode_checked
from .plots import unique_titles


@dataclass
class Scores:
    """The scored samples, what the model answered for each and their labels (N rows)."""

    samples: list[Sample]
    pred: np.ndarray  # (N, K, 2) image pixels
    target: np.ndarray  # (N, K, 2), NaN where not labelled
    visibility: np.ndarray  # (N, K) int8, > 0 where labelled
    image_ids: np.ndarray  # (N,) the image each sample shows
    boxes: np.ndarray | None  # (N, 4) when every sample has a box

    @classmethod
    def of(cls, samples: list[Sample], pred: np.ndarray) -> Scores:
        """The answers ``pred`` of ``samples`` with their labels (codec.labels)."""
        target, visibility, image_ids = codec.labels(samples)
        boxes = np.stack([s.box for s in samples]).astype(np.float64) if all(s.box is not None for s in samples) else None
        return cls(samples, pred, target, visibility, image_ids, boxes)


def per_point_errors(s: Scores) -> np.ndarray:
    """(N, K) pixel distance of each labelled point (inf where the model gave no finite
    point), NaN elsewhere."""
    labelled = (s.visibility > 0) & np.isfinite(s.target).all(2)
    placed = np.isfinite(s.pred).all(2)
    with np.errstate(invalid="ignore"):
        dist = np.where(placed, np.linalg.norm(s.pred - s.target, axis=2), np.inf)
    return np.where(labelled, dist, np.nan)


def per_point_rows(s: Scores, names: Sequence[str]) -> list[dict]:
    """One entry per named point: how often it is labelled, its mean error in pixels and its
    PCK (``metrics.keypoints.per_point``)."""
    count, error, hits = kp_metrics.per_point(s.pred, s.target, s.visibility > 0, s.boxes)
    return [{"name": n, "n": int(c), "error_px": float(e), f"pck_{kp_metrics.PCK_ALPHA:g}": float(p)}
            for n, c, e, p in zip(names, count, error, hits)]


def _json_safe(v):
    """NaN and infinities as JSON null (JSON has neither), through lists and dicts."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    return [_json_safe(x) for x in v] if isinstance(v, list) else v


def _cell(v: float) -> str:
    """A CSV number: empty where there is none (NaN), ``inf`` for a miss."""
    return "" if math.isnan(v) else f"{v:.6g}"


def write_json(path: Path, record: dict) -> None:
    with atomic_writer(path) as f:
        f.write((json.dumps(_json_safe(record), indent=1, allow_nan=False) + "\n").encode())


def _write_rows(path: Path, rows: list[list]) -> None:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    with atomic_writer(path) as f:
        f.write(text.getvalue().encode("utf-8"))


def write_csv(path: Path, s: Scores, errors: np.ndarray, names: Sequence[str]) -> None:
    """``per_image.csv``: file, NME on the primary normaliser, each point's error in pixels."""
    rows = [["file", "nme", *(f"{n}_px" for n in names)]]
    rows += [[sample.path, *map(_cell, (e, *row))] for sample, e, row in zip(s.samples, errors, per_point_errors(s))]
    _write_rows(path, rows)


def write_points_csv(path: Path, points: list[dict]) -> None:
    """``per_point.csv``: the rows of :func:`per_point_rows`."""
    keys = list(points[0])
    _write_rows(path, [keys, *([p["name"], p["n"], *map(_cell, (p[k] for k in keys[2:]))] for p in points)])


def save_png(fig, path: Path, dpi: int) -> None:
    fig.tight_layout()
    with atomic_writer(path) as f:
        fig.savefig(f, format="png", dpi=dpi)


def plot_ced(path: Path, errors: np.ndarray, norm: str, metrics: dict) -> None:
    """The CED of the per-image errors (images with a miss, inf, never count as reached), up
    to 0.1 or the largest finite error, with the 0.08 threshold's AUC and failure rate in
    the legend."""
    from matplotlib.figure import Figure

    errors = errors[~np.isnan(errors)]
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    if len(errors):
        x, y = kp_metrics.ced(errors, max(0.1, float(np.max(errors, initial=0.0, where=np.isfinite(errors)))))
        ax.plot(x, y, label=f"AUC@0.08 {metrics['auc_0.08']:.4f}, FR@0.08 {metrics['fr_0.08']:.4f}")
        ax.axvline(0.08, color="grey", linestyle="--", linewidth=0.8)
        ax.legend(loc="lower right")
    ax.set(xlabel=f"NME ({norm})", ylabel="share of images", ylim=(0, 1.02), xlim=(0, None),
           title=f"Cumulative error distribution ({len(errors)} images)")
    ax.grid(alpha=0.3)
    save_png(fig, path, 100)


def plot_worst(path: Path, s: Scores, errors: np.ndarray, n: int) -> bool:
    """The ``n`` samples of largest error, misses (inf) first (decoded again), points and box
    drawn; False (nothing written) when no sample has an error."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    order = [i for i in np.argsort(-np.nan_to_num(errors, nan=-np.inf), kind="stable") if not np.isnan(errors[i])][:n]
    if not order:
        return False
    cols = math.ceil(math.sqrt(len(order)))
    rows = math.ceil(len(order) / cols)
    fig = Figure(figsize=(3 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    titles = unique_titles([s.samples[i].path for i in order])
    for ax, i, title in zip(axes.flat, order, titles):
        sample = s.samples[i]
        h, w = sample.size
        ax.imshow(decode_checked(sample.path, sample.size), extent=(0, w, h, 0))  # pixel corners at integers
        shown = s.visibility[i] > 0
        ax.scatter(*s.target[i, shown].T, c="lime", marker="+", s=30, linewidths=1)
        ax.scatter(*s.pred[i, shown].T, c="red", marker="x", s=20, linewidths=1)
        if s.boxes is not None:  # which person of a crowded image was scored
            x0, y0, x1, y1 = s.boxes[i]
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="yellow", linewidth=0.8))
        ax.set(xlim=(0, w), ylim=(h, 0))
        ax.set_title(f"{title}\nNME {errors[i]:.4f}", fontsize=8)
    save_png(fig, path, 80)
    return True
