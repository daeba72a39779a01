"""``python -m fastkp.evaluate MODEL --data PATH``: score a keypoint model on a labelled set.

MODEL is an exported file (TorchScript, pt2 or ONNX, from ``python -m fastkp.export``)
or a training checkpoint (.pth), which runs through the same DeployModule its export
would hold, so both give the same numbers. The labelled samples of ``--split`` of
``--data`` are scored (default: both splits; ``valid`` gives the numbers of the
training run's table: one evaluator, :mod:`fastkp.metrics.evaluator`, serves both), read
by the model's task (``--task``) in ``--format``; samples without a labelled point are
left out and counted. Each image
is checked and decoded as ``fastkp.predict`` does and run alone (boxes: one per sample
for a model trained on box crops). ``--tta flip`` averages each answer with its mirror
image's (built into a checkpoint's module; done outside an export).

Written to ``--out`` (default ``MODEL_STEM-eval/`` in the current folder):

- ``metrics.json``: ``model``, ``data``, ``format``, ``split``, ``tta``, ``head``, ``norm`` (the
  primary normaliser), ``n_images`` (samples scored), ``n_points`` (labelled points
  scored), ``n_unlabelled``, ``n_failed`` and ``metrics``: every metric of
  ``fastkp.metrics.keypoints.keypoint_report`` that applies (NaN written as null);
- ``per_image.csv``: ``file``, ``nme`` (on the primary normaliser) and ``NAME_px``, each
  point's error in pixels (empty where not labelled), one row per scored sample;
- ``ced.png``: the cumulative error distribution of the per-image primary NME;
- ``worst.png``: the ``--worst`` samples of largest NME, targets (green +) and
  predictions (red x) drawn.

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
from tqdm.auto import tqdm

from .data import Dataset, ReadOptions, Sample, check_images
from .errors import EXIT_OK, EXIT_PARTIAL, DatasetError, UsageError, run_cli
from .eval_report import Scores, plot_ced, plot_worst, write_csv, write_json
from .export.loader import CheckpointModel, DeployedModel, is_checkpoint
from .metrics.evaluator import KeypointEvaluator
from .pipeline.decode import decode_checked
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


def run_sample(model: DeployedModel, head: int, sample: Sample, flip: bool) -> np.ndarray:
    """(K, 2) points the model gives for ``sample``; DatasetError naming its file if the
    image is unusable (checked as fastkp-infer checks it, then decoded as displayed)."""
    (reason,) = check_images([sample.path], threads=1, cache=False)
    if reason is not None:
        raise DatasetError(reason)
    images = torch.from_numpy(decode_checked(sample.path, sample.size))[None]
    boxes = torch.from_numpy(sample.box[None]) if model.metadata.box_crop is not None else None
    try:
        answers = model.flip_answers(images, boxes) if flip else model.answers(images, boxes)
    except ValueError as e:
        raise DatasetError(f"{sample.path}: {e}") from None
    return answers[head][0].cpu().numpy().astype(np.float64)


def score(model: DeployedModel, head: int, samples: Sequence[Sample], flip: bool,
          on_error: str) -> tuple[Scores, int]:
    """Run the model over ``samples``; with ``on_error="skip"`` a bad image is reported on
    stderr and left out (counted), else its DatasetError stops the run."""
    kept, preds, failed = [], [], 0
    for sample in tqdm(samples, desc="evaluate", unit="img", file=sys.stderr, disable=None):
        try:
            preds.append(run_sample(model, head, sample, flip))
        except DatasetError as e:
            if on_error == "raise":
                raise
            print(f"{PROG}: {e}", file=sys.stderr)
            failed += 1
            continue
        kept.append(sample)
    if not kept:
        raise UsageError("no image could be evaluated")
    return Scores.of(kept, np.stack(preds)), failed


def summary(record: dict, written: Sequence[Path]) -> str:
    """One screen: what was scored, the metrics as an aligned table, the files written."""
    lines = [f"{record['model']} on {record['data']} (format {record['format']}, split {record['split']}, "
             f"tta {record['tta'] or 'none'}, head {record['head']!r})",
             f"{record['n_images']} samples, {record['n_points']} labelled points; {record['n_unlabelled']} "
             f"unlabelled left out, {record['n_failed']} failed; primary normaliser: {record['norm']}", ""]
    width = max(len(k) for k in record["metrics"])
    lines += [f"  {k:<{width}}  {v:.4f}" for k, v in record["metrics"].items()]
    lines += ["", *(f"wrote {p}" for p in written)]
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fastkp.evaluate", description=(
        "Score a keypoint model (export or checkpoint) on every labelled sample of a data set."))
    p.add_argument("model", type=Path, help="exported model file (TorchScript, pt2, ONNX) or training checkpoint")
    p.add_argument("--data", required=True, type=Path, help="the labelled data set")
    p.add_argument("--split", choices=SPLITS, default="all",
                   help="the samples scored: all (both splits, default), valid (the numbers of the training "
                        "run's table) or train")
    p.add_argument("--format", help="data layout (default: the task's first format)")
    p.add_argument("--task", choices=sorted(TASKS), help="read the data as this task (default: the model's)")
    p.add_argument("--tta", choices=["flip"], help="average with the mirror image's answer")
    p.add_argument("--out", type=Path, help="output folder (default: MODEL_STEM-eval in the current folder)")
    p.add_argument("--worst", type=int, default=DEFAULT_WORST, help="images drawn in worst.png (0: none)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                   help="a bad image or annotation stops the run (raise) or is reported and left out (skip)")
    return p


def main(args: argparse.Namespace) -> int:
    if args.worst < 0:
        raise UsageError(f"--worst must be >= 0, got {args.worst}")
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
    d = task.read(data, fmt, ReadOptions(on_error=args.on_error))
    samples, n_unlabelled = labelled_samples(d, args.split, head.n_keypoints, meta.box_crop is not None)

    # a checkpoint's flip test is inside its module; an export's is done here
    flip = args.tta == "flip" and not isinstance(model, CheckpointModel)
    s, failed = score(model, head_index, samples, flip, args.on_error)
    evaluator = KeypointEvaluator.for_data(d.meta, head.n_keypoints, boxes=s.boxes is not None)
    metrics = evaluator.report(s.pred, s.target, s.visibility, s.boxes, s.image_ids)
    norm, errors = evaluator.norm, evaluator.per_image(s.pred, s.target, s.visibility, s.boxes)

    out = args.out.expanduser() if args.out else Path(args.model.with_suffix("").name + "-eval")
    record = {"model": str(args.model), "data": str(args.data), "format": fmt, "split": args.split,
              "tta": args.tta or meta.tta,
              "head": head.name, "norm": norm, "n_images": len(s.samples), "n_points": int((s.visibility > 0).sum()),
              "n_unlabelled": n_unlabelled, "n_failed": failed, "metrics": metrics}
    names = d.meta.point_names or head.names or [str(i) for i in range(head.n_keypoints)]
    written = [out / "metrics.json", out / "per_image.csv", out / "ced.png"]
    write_json(written[0], record)
    write_csv(written[1], s, errors, names)
    plot_ced(written[2], errors, norm, metrics)
    if args.worst and plot_worst(out / "worst.png", s, errors, args.worst):
        written.append(out / "worst.png")
    print(summary(record, written), flush=True)
    return EXIT_PARTIAL if failed else EXIT_OK


def cli(argv: list[str] | None = None) -> int:
    return run_cli(PROG, main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
