"""``python -m fastkp.evaluate MODEL --data PATH``: score a keypoint model on a labelled set.

MODEL is an exported file (TorchScript, pt2 or ONNX, from ``python -m fastkp.export``)
or a training checkpoint (.pth), which runs through the same DeployModule its export
would hold, so both give the same numbers. The labelled samples of ``--split`` of
``--data`` are scored (default ``valid``: the numbers of the training run's table, one
evaluator, :mod:`fastkp.metrics.evaluator`, serving both; ``train``; ``all``), read by
the model's task (``--task``) in ``--format``; samples without a labelled point are left
out and counted. Images are checked and decoded as ``fastkp.predict`` does and run in
batches (:mod:`fastkp.eval_batches`; boxes: one per sample for a model trained on box
crops). ``--tta flip`` averages each answer with its mirror image's (built into a
checkpoint's module; done outside an export). A point the model gives as NaN is a miss
in every metric.

Written to ``--out`` (default ``MODEL_STEM-eval/`` in the current folder):

- ``metrics.json``: ``model``, ``data``, ``format``, ``split``, ``tta``, ``head``, ``norm`` (the
  primary normaliser), ``n_images`` (samples scored), ``n_points`` (labelled points
  scored), ``n_unlabelled``, ``n_failed``, ``metrics``: ``rmse_px_image`` (over every
  labelled point, in image pixels) and every metric of
  ``fastkp.metrics.keypoints.keypoint_report`` that applies (NaN and inf written as null),
  and ``per_point``: each named point's count, mean error in pixels and PCK;
- ``per_image.csv``: ``file``, ``nme`` (on the primary normaliser) and ``NAME_px``, each
  point's error in pixels (empty where not labelled, ``inf`` for a miss), one row per
  scored sample;
- ``per_point.csv``: ``per_point`` as a table;
- ``ced.png``: the cumulative error distribution of the per-image primary NME;
- ``worst.png``: the ``--worst`` samples of largest NME, targets (green +) and
  predictions (red x) drawn;
- with ``--coco-results FILE`` (COCO data), FILE: the predictions as COCO keypoint results
  for pycocotools (:mod:`fastkp.coco_results`).

A summary table goes to stdout. Exit status (``fastkp.errors``): 0; 1 when some images
failed under ``--on-error skip`` (one stderr line each); 2 for bad usage, an unusable
model or data, or a bad image under ``--on-error raise``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .coco_results import write_coco_results
from .data import Dataset, ReadOptions, Sample
from .data.pixels import DEFAULT_MAX_PIXELS
from .errors import EXIT_OK, EXIT_PARTIAL, ArgumentParser, DatasetError, UsageError, run_cli
from .eval_batches import run_model
from .eval_report import Scores, per_point_rows, plot_ced, plot_worst, write_csv, write_json, write_points_csv
from .export.loader import CheckpointModel, DeployedModel, is_checkpoint
from .metrics import keypoints as kp_metrics
from .metrics.evaluator import KeypointEvaluator
from .pipeline import codec
from .tasks import TASKS

PROG = "fastkp.evaluate"
DEFAULT_WORST = 16
SPLITS = ("all", "valid", "train")


def load_model(path: Path, device: str, tta: str | None) -> DeployedModel:
    """A checkpoint (with the flip test built in for ``tta``) or an export on ``device``."""
    try:
        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise UsageError(f"--device {device}: CUDA is not available")
    except RuntimeError as e:  # an unparsable device
        raise UsageError(f"--device {device}: {e}") from None
    if is_checkpoint(path):
        try:
            return CheckpointModel(path, device, tta=tta)
        except UsageError as e:
            if e.setting != "tta":
                raise
            raise UsageError(f"--tta {tta}: {e}") from None
    model = DeployedModel(path, device)
    if tta is not None:  # checked here, not at the first image's flip_answers
        try:
            model.check_flip()
        except ValueError as e:
            raise UsageError(f"--tta {tta}: {e}") from None
    return model


def keypoint_head(model: DeployedModel) -> int:
    """Index of the head evaluated: the first keypoint head (a note on stderr if there are more)."""
    heads = model.metadata.head_objects()
    found = [i for i, h in enumerate(heads) if h.kind == "keypoints"]
    if not found:
        raise UsageError(f"{model.path}: no keypoint head to evaluate (heads: "
                         f"{', '.join(f'{h.name} ({h.kind})' for h in heads)})")
    if len(found) > 1:
        print(f"{PROG}: {len(found)} keypoint heads; evaluating the first, {heads[found[0]].name!r}", file=sys.stderr)
    return found[0]


def labelled_samples(d: Dataset, split: str, k: int, needs_boxes: bool) -> tuple[list[Sample], int]:
    """The samples of ``split`` (all: both) with a labelled point, and how many had none;
    UsageError when their point count is not the model's or a box model meets a sample
    without a box."""
    everything = {"all": [*d.train, *d.valid], "valid": d.valid, "train": d.train}[split]
    samples = [s for s in everything if s.keypoints is not None and np.isfinite(s.keypoints).any()]
    if not samples:
        raise UsageError("--data: no sample has a labelled keypoint")
    if samples[0].keypoints.shape[0] != k:
        raise UsageError(f"the model has {k} keypoints but the data {samples[0].keypoints.shape[0]}")
    if needs_boxes:
        missing = next((s for s in samples if s.box is None), None)
        if missing is not None:
            raise UsageError(f"the model was trained on box crops but {missing.path} has no box "
                             "(use a format that gives boxes)")
    return samples, len(everything) - len(samples)


def score(model: DeployedModel, head: int, samples: Sequence[Sample], flip: bool, on_error: str, threads: int,
          max_pixels: int | None) -> tuple[Scores, int]:
    """Run the model over ``samples`` in batches (:mod:`fastkp.eval_batches`); with
    ``on_error="skip"`` a bad image is reported on stderr and left out (counted), else its
    DatasetError stops the run."""
    bad: list[DatasetError] = []

    def failed(error: DatasetError) -> None:
        if on_error == "raise":
            raise error
        print(f"{PROG}: {error}", file=sys.stderr)
        bad.append(error)

    answers = run_model(model, head, samples, flip, threads=threads, max_pixels=max_pixels, failed=failed)
    if not answers:
        raise UsageError("no image could be evaluated")
    kept = sorted(answers)
    points = np.stack([answers[i] for i in kept])[..., :2]  # a heatmap head's scores follow its points
    return Scores.of([samples[i] for i in kept], points), len(bad)


def summary(record: dict, written: Sequence[Path]) -> str:
    """One screen: what was scored, the metrics as an aligned table, the files written."""
    lines = [f"{record['model']} on {record['data']} (format {record['format']}, split {record['split']}, "
             f"tta {record['tta'] or 'none'}, head {record['head']!r})",
             f"{record['n_images']} samples, {record['n_points']} labelled points; {record['n_unlabelled']} "
             f"unlabelled left out, {record['n_failed']} failed; primary normaliser: {record['norm']}", ""]
    width = max(len(k) for k in record["metrics"])
    lines += [f"  {k:<{width}}  {v:.4f}" for k, v in record["metrics"].items()]
    points = record["per_point"]
    width = max(len(p["name"]) for p in points)
    pck = list(points[0])[-1]
    lines += ["", f"  {'point':<{width}}  {'n':>6}  {'error_px':>9}  {pck:>8}"]
    lines += [f"  {p['name']:<{width}}  {p['n']:>6}  {p['error_px']:>9.3f}  {p[pck]:>8.4f}" for p in points]
    lines += ["", *(f"wrote {p}" for p in written)]
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m fastkp.evaluate", description=(
        "Score a keypoint model (export or checkpoint) on every labelled sample of a data set."))
    p.add_argument("model", type=Path, help="exported model file (TorchScript, pt2, ONNX) or training checkpoint")
    p.add_argument("--data", required=True, type=Path, help="the labelled data set")
    p.add_argument("--split", choices=SPLITS, default="valid",
                   help="the samples scored: valid (default: the numbers of the training run's table), train or "
                        "all (both splits)")
    p.add_argument("--format", help="data layout (default: the task's first format)")
    p.add_argument("--task", choices=sorted(TASKS), help="read the data as this task (default: the model's)")
    p.add_argument("--tta", choices=["flip"], help="average with the mirror image's answer")
    p.add_argument("--out", type=Path, help="output folder (default: MODEL_STEM-eval in the current folder)")
    p.add_argument("--worst", type=int, default=DEFAULT_WORST, help="images drawn in worst.png (0: none)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                   help="a bad image or annotation stops the run (raise) or is reported and left out (skip)")
    p.add_argument("--threads", type=int, help="CPU threads for the image checks, decoding and the model")
    p.add_argument("--max-pixels", type=int, help=f"refuse images of more pixels (default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--coco-results", type=Path, metavar="FILE",
                   help="also write the predictions as COCO keypoint results (pycocotools' loadRes; COCO data only)")
    return p


def main(args: argparse.Namespace) -> int:
    if args.worst < 0:
        raise UsageError(f"--worst must be >= 0, got {args.worst}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be a positive int, got {args.threads}")
    if args.max_pixels is not None and args.max_pixels < 1:
        raise UsageError(f"--max-pixels must be a positive integer, got {args.max_pixels}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data = args.data.expanduser()
    if not data.exists():
        raise UsageError(f"--data {data}: no such file or folder")
    model = load_model(args.model.expanduser(), args.device, args.tta)
    meta = model.metadata
    head_index = keypoint_head(model)
    head = meta.head_objects()[head_index]
    if args.task is None and meta.task not in TASKS:
        raise UsageError(f"the model's task {meta.task!r} has no data reader; name one with --task")
    task = TASKS[args.task or meta.task]
    fmt = task.format(args.format)
    if args.coco_results is not None and fmt != "coco":
        raise UsageError(f"--coco-results: the data is read as {fmt!r}; COCO results need COCO data (--format coco)")
    d = task.read(data, fmt, ReadOptions(on_error=args.on_error, max_pixels=args.max_pixels))
    samples, n_unlabelled = labelled_samples(d, args.split, head.n_keypoints, meta.box_crop is not None)

    # a checkpoint's flip test is inside its module; an export's is done here
    flip = args.tta == "flip" and not isinstance(model, CheckpointModel)
    s, failed = score(model, head_index, samples, flip, args.on_error, args.threads or torch.get_num_threads(),
                      args.max_pixels)
    evaluator = KeypointEvaluator.for_data(d.meta, head.n_keypoints, boxes=s.boxes is not None)
    metrics = {"rmse_px_image": kp_metrics.rmse_px(s.pred, s.target, s.visibility > 0),
               **evaluator.report(s.pred, s.target, s.visibility, s.boxes, s.image_ids, codec.areas(s.samples))}
    norm, errors = evaluator.norm, evaluator.per_image(s.pred, s.target, s.visibility, s.boxes)

    out = args.out.expanduser() if args.out else Path(args.model.with_suffix("").name + "-eval")
    record = {"model": str(args.model), "data": str(args.data), "format": fmt, "split": args.split,
              "tta": args.tta or meta.tta,
              "head": head.name, "norm": norm, "n_images": len(s.samples), "n_points": int((s.visibility > 0).sum()),
              "n_unlabelled": n_unlabelled, "n_failed": failed, "metrics": metrics}
    names = d.meta.point_names or head.names or [str(i) for i in range(head.n_keypoints)]
    record["per_point"] = per_point_rows(s, names)
    written = [out / "metrics.json", out / "per_image.csv", out / "per_point.csv", out / "ced.png"]
    if args.coco_results is not None:  # first: it refuses samples of several annotation files
        written.append(write_coco_results(args.coco_results.expanduser(), s.samples, s.pred))
    write_json(written[0], record)
    write_csv(written[1], s, errors, names)
    write_points_csv(written[2], record["per_point"])
    plot_ced(written[3], errors, norm, metrics)
    if args.worst and plot_worst(out / "worst.png", s, errors, args.worst):
        written.append(out / "worst.png")
    print(summary(record, written), flush=True)
    return EXIT_PARTIAL if failed else EXIT_OK


def cli(argv: list[str] | None = None) -> int:
    return run_cli(PROG, main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
