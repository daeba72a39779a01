"""``python -m fastkp.predict MODEL PATH... [--plot OUT.png]``: run an exported model on images.

MODEL is a TorchScript file or pt2 package from ``python -m fastkp.export``;
PATH a file or a folder (searched recursively for .jpg .jpeg .ppm .pgm .pnm,
sorted). Prints one JSON line per image, the lines the C++ ``fastkp-infer``
prints::

    {"image": P, "height": H, "width": W, "keypoints": [[x, y], ...]}
    {"image": P, "height": H, "width": W, "labels": [...], "probabilities": {"label": p, ...}}

Keypoints are in pixels of the image as displayed (EXIF orientation applied),
origin at its top-left corner; a label is listed when its probability is above
the model's threshold. Exit status: 0, 1 if some image failed (one stderr line
each), 2 for bad usage or an unusable model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import DatasetError
from .export import DeployedModel, ExportError, ModelMetadata, load
from .pipeline.reference import decode_rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".ppm", ".pgm", ".pnm")
MAX_PLOTTED = 16


@dataclass
class Result:
    """One image's answer: its pixels and the JSON record printed for it."""

    pixels: np.ndarray
    record: dict


def collect_images(paths: Sequence[str]) -> list[str]:
    """Files as given; each folder replaced by its image files, recursively, sorted
    (the same list and spelling as ``fastkp::infer::collect_images``)."""
    out: list[str] = []
    for p in paths:
        if not os.path.isdir(p):
            out.append(p)
            continue
        found = [os.path.join(root, name) for root, _, names in os.walk(p) for name in names
                 if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES and os.path.isfile(os.path.join(root, name))]
        out.extend(sorted(found))
    return out


def _f32(v: float) -> float:
    """The shortest decimal of a float32 value, as the C++ program prints it."""
    return float(str(np.float32(v)))


def make_record(path: str, hw: tuple[int, int], output: np.ndarray, meta: ModelMetadata) -> dict:
    """The JSON record of one image from its row of model output."""
    record: dict = {"image": path, "height": int(hw[0]), "width": int(hw[1])}
    if meta.keypoints:
        record["keypoints"] = [[_f32(x), _f32(y)] for x, y in output.reshape(-1, 2)]
    else:
        record["labels"] = [label for label, p in zip(meta.vocab, output) if p > meta.threshold]
        record["probabilities"] = {label: _f32(p) for label, p in zip(meta.vocab, output)}
    return record


def predict_image(model: DeployedModel, path: str) -> Result:
    """Decode ``path`` (PIL, EXIF orientation applied, RGB) and run ``model`` on it."""
    pixels = decode_rgb(path)
    output = model(torch.from_numpy(pixels)[None])[0].cpu().numpy()
    return Result(pixels, make_record(path, pixels.shape[:2], output, model.metadata))


def plot_results(results: Sequence[Result], meta: ModelMetadata, out: str | Path) -> None:
    """Draw each image with its keypoints (dots) or labels (title) into one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, r in zip(axes.flat, results):
        h, w = r.pixels.shape[:2]
        ax.imshow(r.pixels, extent=(0, w, h, 0))  # pixel corners at integers, as the keypoints
        if meta.keypoints:
            pts = np.asarray(r.record["keypoints"])
            ax.scatter(pts[:, 0], pts[:, 1], s=30, c="red", edgecolors="white", linewidths=1)
            ax.set_title(os.path.basename(r.record["image"]), fontsize=9)
        else:
            probs = r.record["probabilities"]
            text = ", ".join(f"{lab} {probs[lab]:.2f}" for lab in r.record["labels"]) or "(no label)"
            ax.set_title(f"{os.path.basename(r.record['image'])}\n{text}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fastkp.predict", description=(
        "Run an exported fastkp model on images; print one JSON line per image."))
    p.add_argument("model", help="TorchScript file or pt2 package written by python -m fastkp.export")
    p.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--plot", metavar="OUT.png", help=f"draw the first {MAX_PLOTTED} images with their answers")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--threads", type=int, help="CPU threads for the model")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        model = load(args.model, args.device)
    except (ExportError, RuntimeError) as e:
        print(f"fastkp.predict: {e}", file=sys.stderr)
        return 2
    status = 0
    plotted: list[Result] = []
    for path in collect_images(args.paths):
        try:
            result = predict_image(model, path)
        except (DatasetError, ValueError) as e:
            print(f"fastkp.predict: {e}", file=sys.stderr)
            status = 1
            continue
        print(json.dumps(result.record, ensure_ascii=False), flush=True)
        if args.plot and len(plotted) < MAX_PLOTTED:
            plotted.append(result)
    if args.plot and plotted:
        plot_results(plotted, model.metadata, args.plot)
    return status


if __name__ == "__main__":
    sys.exit(main())
