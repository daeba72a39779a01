"""``python -m fastkp.train`` (``fastkp-train``): the main job, a thin layer over
:class:`fastkp.learner.Learner`.

Without ``--data`` it trains on the task's synthetic demo set (generated once,
cached under $FASTKP_CACHE or ~/.cache/fastkp) with the demo settings; explicit
flags override them (:mod:`fastkp.config`). Under ``torchrun`` it trains with
DistributedDataParallel. Exit codes: :mod:`fastkp.errors`.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports, whose cost --profile-startup reports

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from . import distributed  # noqa: E402
from .config import AUG_PRESETS, DEVICES, PRETRAINED, SCHEDULES, float32_value, resolve  # noqa: E402
from .data.pixels import DEFAULT_MAX_PIXELS  # noqa: E402
from .errors import ArgumentParser, UsageError, run_cli  # noqa: E402
from .heads import loss_names  # noqa: E402
from .heads.networks import STYLES  # noqa: E402
from .pipeline.augment import PAD_MODES  # noqa: E402
from .pipeline.boxes import BOX_MODES  # noqa: E402
from .tasks import TASKS  # noqa: E402

PROG = "fastkp.train"
FLAG_OF = {"do_flip": "no_flip", "channels_last": "no_channels_last"}  # setting -> flag, where they differ
NOT_SETTINGS = ("task", "data", "out", "resume", "lr_find", "no_channels_last", "no_flip", "profile_startup",
                "nme_norm")
NME_METRICS = {"diagonal": "nme", "interocular": "nme_interocular", "bbox": "nme_bbox"}


def get_args_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m fastkp.train",
        description="Train an image model for keypoints, labels, values, age + gender or classes (fastai-style "
        "fine_tune, DALI loading, channels-last, mixed precision). Without --data, trains on a synthetic demo set.")
    p.add_argument("--task", default="biwi", choices=sorted(TASKS), help="what to learn (default: biwi head centre)")
    p.add_argument("--data", type=Path, help="dataset root in the task's format; omit for the synthetic demo")
    p.add_argument("--arch", help="body: a torchvision classification model (resnet18, resnet50, convnext_tiny, "
                   "efficientnet_b0, mobilenet_v3_large, regnet_y_800mf, ...) or timm:NAME (book: resnet18 for "
                   "biwi, resnet50 for pascal)")
    p.add_argument("--pretrained", choices=PRETRAINED,
                   help="ImageNet weights for the body: auto (default) uses them if they are in the library's "
                        "cache, never downloading; yes downloads them when missing; no starts random")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help="auto (default): fine_tune for a pretrained body, one_cycle for a random one; fine_tune: "
                        "a frozen epoch, then discriminative rates; one_cycle: every layer at one rate")
    p.add_argument("--size", nargs="+", metavar="H",
                   help="network input in pixels (>= 32): 96 (square), 96x128 or 96 128 (height, width)")
    p.add_argument("--bs", type=int, help="batch size per process")
    p.add_argument("--epochs", type=int, help="unfrozen epochs of fine_tune; all the epochs of one_cycle")
    p.add_argument("--freeze-epochs", type=int, help="fine_tune: epochs with the body frozen before unfreezing")
    p.add_argument("--lr", type=float32_value,
                   help="base learning rate of fine_tune; peak rate of one_cycle (default 3e-3)")
    p.add_argument("--format", help="the data layout, where a task reads several (keypoints: csv, 300w, coco, dlc, "
                   "yolo; see README)")
    p.add_argument("--box-crop", action=argparse.BooleanOptionalAction, default=None,
                   help="crop each sample's box (default: on for 300w, coco and yolo; the exported model then "
                        "takes boxes)")
    p.add_argument("--box-margin", type=float32_value, help="box crops: enlarge the box by this share (default 0.25)")
    p.add_argument("--box-mode", choices=BOX_MODES, help="box crops: pad to the input's aspect ratio (default) "
                   "or squash")
    p.add_argument("--flip-json", type=Path, metavar="FILE",
                   help='keypoints: {"flip_index": [...], "names": [...]} over the format\'s flip permutation')
    p.add_argument("--head", choices=STYLES,
                   help="the network each head ends with: heatmap (keypoint tasks' default: a neck, heatmaps and "
                        "the fused soft-argmax, with a score per point), fastai (concat pool, BatchNorm, dropout, "
                        "linear 512; the other tasks' default) or linear (average pool, one linear layer)")
    p.add_argument("--loss", choices=loss_names(), help="the heads' loss (default: each head's own: mse for points "
                   "and values, l1 for an age; see docs/training.md)")
    p.add_argument("--loss-weights", metavar="HEAD=W,...", type=_weights,
                   help="weight of each head's loss in the sum, e.g. age=1,gender=1 (default 1 each)")
    p.add_argument("--label-smoothing", type=float32_value,
                   help="label smoothing of class heads' cross-entropy (default 0)")
    p.add_argument("--monitor", metavar="METRIC",
                   help="metric that picks best.pth (default: the first head's: rmse_px for points, mAP for labels, "
                        "mae for values, accuracy for classes; agegender: valid_loss)")
    p.add_argument("--nme-norm", choices=("diagonal", "interocular", "bbox"),
                   help="keypoints: monitor the NME with this normaliser (nme, nme_interocular, nme_bbox)")
    p.add_argument("--amp", action="store_true", default=None,
                   help="mixed precision: bf16 autocast on CPU, fp16 + GradScaler on CUDA")
    p.add_argument("--no-channels-last", action="store_true", help="keep NCHW memory format")
    p.add_argument("--weights", type=Path, help="local state dict of the full torchvision or timm model for the "
                   "body (counts as pretrained)")
    p.add_argument("--compile", action="store_true", default=None, help="wrap the model in torch.compile")
    p.add_argument("--out", type=Path, default=Path("runs/fastkp"), help="output folder (checkpoints, metrics, plots)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pth")
    p.add_argument("--seed", type=int, help="random seed (data order, augmentation, init; default 0)")
    p.add_argument("--device", choices=DEVICES, help="where to train (default auto)")
    p.add_argument("--lr-find", action="store_true", help="run the learning-rate finder, save lr_find.png, and stop")
    p.add_argument("--threads", type=int, help="CPU threads for torch and DALI (default: all cores)")
    p.add_argument("--on-error", choices=("raise", "skip"),
                   help="an unusable image file: stop naming it (raise, default) or leave it out and count it")
    p.add_argument("--max-pixels", type=int, help=f"refuse images of more pixels (default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--profile-startup", action="store_true",
                   help="print where the time outside the training epochs goes")
    aug = p.add_argument_group("augmentation (a preset, then individual overrides)")
    aug.add_argument("--aug", choices=AUG_PRESETS,
                     help="fastai: aug_transforms defaults (default); light: flip only; none: resize only")
    aug.add_argument("--no-flip", action="store_true", help="no horizontal flips")
    aug.add_argument("--max-rotate", type=float32_value, metavar="DEG", help="rotation up to +-DEG degrees")
    aug.add_argument("--min-zoom", type=float32_value, help="smallest zoom factor")
    aug.add_argument("--max-zoom", type=float32_value, help="largest zoom factor")
    aug.add_argument("--max-warp", type=float32_value, help="skew strength in [0, 1)")
    aug.add_argument("--max-lighting", type=float32_value, help="brightness/contrast strength in [0, 1)")
    aug.add_argument("--min-scale", type=float32_value,
                     help="random crops of at least this share of the image (1: none)")
    aug.add_argument("--pad-mode", choices=PAD_MODES, help="what shows outside the image")
    aug.add_argument("--box-scale", type=float32_value, help="box crops: scale the box by U(1 - S, 1 + S) in training")
    aug.add_argument("--box-shift", type=float32_value,
                     help="box crops: move the box by U(-S, S) of its size in training")
    return p


def _weights(text: str) -> dict[str, float]:
    """``age=1,gender=0.5`` -> {"age": 1.0, "gender": 0.5}."""
    try:
        pairs = [(name.strip(), float32_value(value))
                 for name, value in (item.split("=", 1) for item in text.split(","))]
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"expected HEAD=WEIGHT,... got {text!r}") from None
    names = [name for name, _ in pairs]
    if not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"each head named once, got {text!r}")
    return dict(pairs)


def settings(args: argparse.Namespace) -> dict:
    """The explicit settings in ``args`` (None: not given)."""
    given = {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}
    given["size"] = args.size
    given["weights"] = args.weights.expanduser() if args.weights else None
    given["channels_last"] = False if args.no_channels_last else None
    given["do_flip"] = False if args.no_flip else None
    given["flip_json"] = args.flip_json.expanduser() if args.flip_json else None
    if args.nme_norm is not None:
        if args.monitor is not None:
            raise UsageError("--nme-norm chooses the monitored metric: give it or --monitor, not both")
        given["monitor"] = NME_METRICS[args.nme_norm]
    return given


def main(args: argparse.Namespace) -> int:
    from .learner import Learner

    laps = {"imports": time.perf_counter() - STARTED}
    lap = time.perf_counter()
    try:
        config = resolve(args.task, args.data.expanduser() if args.data else None, **settings(args))
        learn = Learner.from_folder(config=config, out=args.out)
    except UsageError as e:
        if e.setting is None:
            raise
        raise UsageError(f"--{FLAG_OF.get(e.setting, e.setting).replace('_', '-')}: {e}") from None
    cfg = learn.config
    laps["data, model and loaders"], lap = time.perf_counter() - lap, time.perf_counter()
    learn.log(
        f"fastkp: task {cfg.task} on {learn.data.source}: {len(learn.train_samples)} train / {len(learn.valid_samples)} "
        f"valid images, {cfg.arch} at {cfg.size}, batch {cfg.bs}, device {learn.device}"
        f"{f', {learn.world} processes' if learn.world > 1 else ''}"
        f"{', amp ' + str(learn.amp_dtype).replace('torch.', '') if learn.amp else ''}"
        f"{'; ' + learn.task.note if learn.task.note and cfg.aug == AUG_PRESETS['none'] else ''}")
    base = learn.constant_baseline()
    learn.log("constant predictor on the validation set: " + ", ".join(f"{k} {v:.4g}" for k, v in base.items()))
    laps["baseline"], lap = time.perf_counter() - lap, time.perf_counter()
    if args.lr_find:
        lrs = learn.lr_find()
        learn.log(f"suggested learning rates: valley {lrs.valley:.2e} (recommended: --lr {lrs.valley:.2g}), "
                  f"minimum/10 {lrs.minimum:.2e}, steepest {lrs.steep:.2e} (plot: {learn.out / 'lr_find.png'})")
        return 0
    if cfg.schedule == "fine_tune":
        learn.fine_tune(cfg.epochs, cfg.lr, freeze_epochs=cfg.freeze_epochs, resume=args.resume)
    else:
        learn.fit(cfg.epochs, cfg.lr, resume=args.resume)
    learn.log(f"checkpoints, metrics.jsonl and plots are in {learn.out}")
    if args.profile_startup:
        epochs = sum(h["time_s"] for h in learn.history)
        laps["run outside the epochs (plots, summary)"] = time.perf_counter() - lap - epochs
        learn.log("time outside the epochs: " + ", ".join(f"{k} {v:.1f} s" for k, v in laps.items()) +
                  f"; total {sum(laps.values()):.1f} s (epochs: {epochs:.1f} s)")
    return 0


def cli(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        return run_cli(PROG, main, args, interrupted="interrupted; --resume continues from the last finished epoch")
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    sys.exit(cli())
