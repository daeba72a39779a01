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

A model trained on box crops takes one box per answer: ``--box x0,y0,x1,y1`` for every
image, or ``--boxes FILE.jsonl`` (lines ``{"image": P, "boxes": [[x0, y0, x1, y1], ...]}``,
other keys such as a detector's scores ignored: the images to run, without PATH
arguments); each box gets its own line, with a ``"box"`` field after ``width``. Without
either, each image's whole frame is its box (said once on stderr). ``--tta flip`` runs
the flip test (keypoint heads with a flip permutation).
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
from .data.pixels import DEFAULT_MAX_PIXELS, check_max_pixels, pixel_limit
from .errors import EXIT_OK, EXIT_PARTIAL, ArgumentParser, DatasetError, UsageError, run_cli
from .export import DeployedModel, load
from .heads import Head
from .heads.base import f32
from .pipeline import shrink
from .pipeline.decode import with_rgb
from .predict_boxes import MAX_BOXES_PER_LINE, parse_box, read_boxes_file
from .plots import unique_titles

PROG = "fastkp.predict"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pnm")
MAX_PLOTTED = 16
BATCH_BYTES = 256 << 20  # pixels of one model call (fastkp-infer's bound too)


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


def make_record(path: str, hw: tuple[int, int], answers: Sequence[np.ndarray], heads: Sequence[Head],
                box: Sequence[float] | None = None) -> dict:
    """The JSON record of one image (one box of it) from its answer of each head."""
    fields = heads_mod.merge(heads, [h.record(a) for h, a in zip(heads, answers)])
    where = {} if box is None else {"box": [f32(v) for v in box]}
    return {"image": path, "height": int(hw[0]), "width": int(hw[1]), **where, **fields}


def predict_image(model: DeployedModel, heads: Sequence[Head], path: str, boxes: list[list[float]] | None = None,
                  tta: str | None = None, max_pixels: int | None = None, min_score: float = 0.0) -> list[Result]:
    """Check ``path`` as fastkp-infer's decoders do (corrupt data, ``max_pixels``), decode it
    (PIL, EXIF orientation applied, RGB) and run ``model`` on it: one result, or one per box
    for a box-crop model (``boxes`` None: the whole image); points scored below ``min_score``
    are blanked."""
    (reason,) = check_images([path], threads=1, cache=False, max_pixels=max_pixels)
    if reason is not None:
        raise DatasetError(reason)
    pixels, shown, (h, w) = with_rgb(path, lambda im: _model_view(im, model), max_pixels)
    to_image = np.array([w / pixels.shape[1], h / pixels.shape[0]], np.float32)  # 1, 1 unless sampled
    if model.metadata.box_crop is not None and boxes is None:
        boxes = [[0.0, 0.0, float(w), float(h)]]
    # the model takes one image per box: copies of this one, at most BATCH_BYTES at a time
    per_batch = max(1, BATCH_BYTES // pixels.nbytes)
    results = []
    for start in range(0, 1 if boxes is None else len(boxes), per_batch):
        chunk = None if boxes is None else boxes[start:start + per_batch]
        images = torch.from_numpy(pixels)[None].expand(1 if chunk is None else len(chunk), -1, -1, -1)
        given = None if chunk is None else torch.tensor(chunk, dtype=torch.float32)
        outs = model.flip_answers(images, given) if tta == "flip" else model.answers(images, given)
        for i in range(images.shape[0]):
            answers = [head.blank_below(_in_image(head, a[i].cpu().numpy(), to_image), min_score)
                       for head, a in zip(heads, outs)]
            box = None if chunk is None else chunk[i]
            results.append(Result(shown, answers, make_record(path, (h, w), answers, heads, box)))
    return results


def _model_view(im, model: DeployedModel) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(pixels for the model, pixels to draw, the image's (height, width)) of the decoded
    image ``im``: over shrink.LARGE pixels (no boxes), the model gets the small frame of
    what its resize reads (fastkp.pipeline.shrink), never a float copy of the whole image."""
    if model.metadata.box_crop is None and im.height * im.width > shrink.LARGE:
        return shrink.sampled_frame(im, model.metadata.input_size), shrink.display_copy(im), (im.height, im.width)
    pixels = np.array(im)
    return pixels, pixels, (im.height, im.width)


def _in_image(head: Head, answer: np.ndarray, to_image: np.ndarray) -> np.ndarray:
    """Points from the pixels of what the model saw to the image's (the squash is proportional)."""
    if head.export_entry()["kind"] != "keypoints" or (to_image == 1).all():
        return answer
    answer = answer.copy()
    answer[..., :2] *= to_image
    return answer


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
        h, w = r.record["height"], r.record["width"]  # r.pixels may be a smaller copy
        ax.imshow(r.pixels, extent=(0, w, h, 0))  # pixel corners at integers, as the keypoints
        ax.set_title(title, fontsize=9)
        for head, answer in zip(heads, r.answers):
            head.draw_answer(ax, answer)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def get_args_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m fastkp.predict", description=(
        "Run an exported fastkp model on images; print one JSON line per image."))
    p.add_argument("model", type=Path, help="TorchScript file or pt2 package written by python -m fastkp.export")
    p.add_argument("paths", nargs="*", help="image files or folders (searched recursively)")
    p.add_argument("--box", metavar="x0,y0,x1,y1", help="box-crop models: this box in every image")
    p.add_argument("--boxes", metavar="FILE.jsonl",
                   help='box-crop models: lines {"image": PATH, "boxes": [[x0, y0, x1, y1], ...]}, the images to run '
                        f'(at most {MAX_BOXES_PER_LINE} boxes a line)')
    p.add_argument("--tta", choices=["flip"], help="flip: average with the mirrored image's answer (keypoints)")
    p.add_argument("--min-score", type=float, default=0.0, metavar="S",
                   help="heatmap keypoint heads: print points scored below S in [0, 1] as null (DeepLabCut's pcutoff)")
    p.add_argument("--plot", type=Path, metavar="OUT.png",
                   help=f"draw the first {MAX_PLOTTED} images with their answers")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--threads", type=int, help="CPU threads for the model (at most the CPUs)")
    p.add_argument("--max-pixels", type=int, help=f"refuse images of more pixels (default {DEFAULT_MAX_PIXELS:,})")
    return p


def main(args: argparse.Namespace) -> int:
    if args.max_pixels is not None:
        check_max_pixels(args.max_pixels)
    pixel_limit(args.max_pixels)  # a bad FASTKP_MAX_PIXELS is bad usage (exit 2), not a failed image
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be a positive int, got {args.threads}")
        # more threads than CPUs only slow the model, and 10^9 exhaust libgomp: clamped (fastkp-infer too)
        torch.set_num_threads(min(args.threads, os.cpu_count() or 1))
    try:
        device = torch.device(args.device)
    except RuntimeError as e:  # an unparsable --device
        raise UsageError(f"--device {args.device}: {e}") from None
    model = load(args.model.expanduser(), device)
    heads = model.metadata.head_objects()
    heads_mod.check_min_score(args.min_score, heads)
    if args.tta == "flip":
        try:
            model.check_flip()
        except ValueError as e:
            raise UsageError(f"--tta flip: {e}") from None
    jobs = _jobs(args, model)
    status = EXIT_OK
    plotted: list[Result] = []
    for path, boxes in jobs:
        try:
            results = predict_image(model, heads, path, boxes, args.tta, args.max_pixels, args.min_score)
        except (DatasetError, ValueError) as e:
            print(f"{PROG}: {e}", file=sys.stderr)
            status = EXIT_PARTIAL
            continue
        for result in results:
            print(json.dumps(result.record, ensure_ascii=False, allow_nan=False), flush=True)
            if args.plot and len(plotted) < MAX_PLOTTED:
                plotted.append(result)
    if args.plot and plotted:
        plot_results(plotted, heads, args.plot.expanduser())
    return status


def _jobs(args: argparse.Namespace, model: DeployedModel) -> list[tuple[str, list[list[float]] | None]]:
    """(image, its boxes or None) to run, from PATHs and --box, or from --boxes."""
    if args.box is not None and args.boxes is not None:
        raise UsageError("give --box or --boxes, not both")
    if (args.box is not None or args.boxes is not None) and model.metadata.box_crop is None:
        raise UsageError(f"{args.model}: this model was trained without boxes; --box and --boxes need a model "
                         "trained on box crops")
    if args.boxes is not None:
        if args.paths:
            raise UsageError("--boxes names the images: give no PATH with it")
        return [(os.path.expanduser(p), b) for p, b in read_boxes_file(os.path.expanduser(args.boxes))]
    if not args.paths:
        raise UsageError("give image files or folders (or --boxes FILE.jsonl)")
    images = collect_images([os.path.expanduser(p) for p in args.paths])
    if not images:
        raise UsageError(f"no image in {' '.join(args.paths)} (looked for {' '.join(IMAGE_SUFFIXES)})")
    box = None if args.box is None else [parse_box(args.box, "--box")]
    if box is None and model.metadata.box_crop is not None:
        print(f"{PROG}: {args.model} crops boxes and none was given (--box, --boxes): each image's whole frame "
              "is its box", file=sys.stderr)
    return [(path, box) for path in images]


def cli(argv: list[str] | None = None) -> int:
    return run_cli(PROG, main, get_args_parser().parse_args(_box_values(sys.argv[1:] if argv is None else argv)))


def _box_values(argv: list[str]) -> list[str]:
    """``--box V`` as ``--box=V``: argparse takes a V that starts with '-' (a box partly left
    of or above the frame, ``--box -4,-2,30,40``) for an option; fastkp-infer takes it as V."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--":
            return out + argv[i:]
        if argv[i] == "--box" and i + 1 < len(argv):
            out.append(f"--box={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


if __name__ == "__main__":
    sys.exit(cli())
