"""``python -m fastkp.predict MODEL PATH... [--plot OUT.png]``: run an exported model on images.

MODEL is a TorchScript file, pt2 package or ONNX file (run by onnxruntime) from
``python -m fastkp.export``;
PATH a file or a folder (searched recursively for .jpg .jpeg .png .ppm .pgm
.pnm, sorted). Prints one JSON line per image, the lines the C++
``fastkp-infer`` prints: ``image``, ``height``, ``width``, then each head's
fields (``fastkp.heads``)::

    {"image": P, "height": H, "width": W, "keypoints": [[x, y], ...], "names": [...]}
    {"image": P, "height": H, "width": W, "labels": [...], "probabilities": {"label": p, ...}}

Keypoints are in pixels of the image as displayed (EXIF orientation applied),
origin at its top-left corner; a label is listed when its probability is above
the model's threshold. Exit status (``fastkp.errors``): 0, 1 if some image failed
(one stderr line each), 2 for bad usage, an unusable model or no image at all.
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

from . import heads as heads_mod
from .data import check_images
from .data.pixels import DEFAULT_MAX_PIXELS, set_max_pixels
from .errors import EXIT_OK, EXIT_PARTIAL, DatasetError, UsageError, run_cli
from .export import DeployedModel, load
from .heads import Head
from .pipeline.decode import decode_rgb
from .plots import unique_titles

PROG = "fastkp.predict"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pnm")
MAX_PLOTTED = 16


@dataclass
class Result:
    """One image: its pixels, each head's answer, and the JSON record printed for it."""

    pixels: np.ndarray
    answers: list[np.ndarray]
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


def make_record(path: str, hw: tuple[int, int], answers: Sequence[np.ndarray], heads: Sequence[Head]) -> dict:
    """The JSON record of one image from its answer of each head."""
    fields = heads_mod.merge(heads, [h.record(a) for h, a in zip(heads, answers)])
    return {"image": path, "height": int(hw[0]), "width": int(hw[1]), **fields}


def predict_image(model: DeployedModel, heads: Sequence[Head], path: str) -> Result:
    """Check ``path`` as fastkp-infer's decoders do (corrupt data, pixel limit), decode it
    (PIL, EXIF orientation applied, RGB) and run ``model`` on it."""
    (reason,) = check_images([path], threads=1, cache=False)
    if reason is not None:
        raise DatasetError(reason)
    pixels = decode_rgb(path)
    answers = [a[0].cpu().numpy() for a in model.answers(torch.from_numpy(pixels)[None])]
    return Result(pixels, answers, make_record(path, pixels.shape[:2], answers, heads))


def plot_results(results: Sequence[Result], heads: Sequence[Head], out: str | Path) -> None:
    """Draw each image with its answer into one PNG: keypoints as dots, labels in the title."""
    from matplotlib.figure import Figure

    n = len(results)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4 * cols, 4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    titles = unique_titles([r.record["image"] for r in results])
    for ax, r, title in zip(axes.flat, results, titles):
        h, w = r.pixels.shape[:2]
        ax.imshow(r.pixels, extent=(0, w, h, 0))  # pixel corners at integers, as the keypoints
        ax.set_title(title, fontsize=9)
        for head, answer in zip(heads, r.answers):
            head.draw_answer(ax, answer)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fastkp.predict", description=(
        "Run an exported fastkp model on images; print one JSON line per image."))
    p.add_argument("model", type=Path, help="TorchScript file or pt2 package written by python -m fastkp.export")
    p.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help=f"draw the first {MAX_PLOTTED} images with their answers")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--threads", type=int, help="CPU threads for the model")
    p.add_argument("--max-pixels", type=int, help=f"refuse images of more pixels (default {DEFAULT_MAX_PIXELS:,})")
    return p


def main(args: argparse.Namespace) -> int:
    if args.max_pixels is not None:
        set_max_pixels(args.max_pixels)
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be a positive int, got {args.threads}")
        torch.set_num_threads(args.threads)
    try:
        model = load(args.model.expanduser(), args.device)
    except RuntimeError as e:  # an unparsable --device
        raise UsageError(f"--device {args.device}: {e}") from None
    heads = model.metadata.head_objects()
    status = EXIT_OK
    plotted: list[Result] = []
    images = collect_images([os.path.expanduser(p) for p in args.paths])
    if not images:
        raise UsageError(f"no image in {' '.join(args.paths)} (looked for {' '.join(IMAGE_SUFFIXES)})")
    for path in images:
        try:
            result = predict_image(model, heads, path)
        except (DatasetError, ValueError) as e:
            print(f"{PROG}: {e}", file=sys.stderr)
            status = EXIT_PARTIAL
            continue
        print(json.dumps(result.record, ensure_ascii=False, allow_nan=False), flush=True)
        if args.plot and len(plotted) < MAX_PLOTTED:
            plotted.append(result)
    if args.plot and plotted:
        plot_results(plotted, heads, args.plot.expanduser())
    return status


def cli(argv: list[str] | None = None) -> int:
    return run_cli(PROG, main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
