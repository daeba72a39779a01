"""``python -m fastkp.train``: the main job, a thin layer over :class:`fastkp.learner.Learner`.

Without ``--data`` it trains on the task's synthetic demo set (generated once,
cached under $FASTKP_CACHE or ~/.cache/fastkp) with the demo settings;
explicit flags override them. Under ``torchrun`` it trains with
DistributedDataParallel. User errors print one line on stderr and exit 2;
a run that diverges exits 3 after saving what it can.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .data import DatasetError
from .model import ARCHS
from .tasks import TASKS


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fastkp.train",
        description="Train a keypoint regressor or multi-label classifier (fastai-style fine_tune, "
        "DALI loading, channels-last, mixed precision). Without --data, trains on a synthetic demo set.",
    )
    p.add_argument("--task", default="biwi", choices=sorted(TASKS), help="what to learn (default: biwi head centre)")
    p.add_argument("--data", type=Path, help="dataset root in the task's format; omit for the synthetic demo")
    p.add_argument("--arch", choices=ARCHS, help="ResNet body (book: resnet18 for biwi, resnet50 for pascal)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="network input size in pixels (>= 32)")
    p.add_argument("--bs", type=int, help="batch size per process")
    p.add_argument("--epochs", type=int, help="unfrozen epochs of fine_tune")
    p.add_argument("--freeze-epochs", type=int, help="epochs with the body frozen before unfreezing")
    p.add_argument("--lr", type=float, help="base learning rate of fine_tune")
    p.add_argument("--amp", action="store_true", help="mixed precision: bf16 autocast on CPU, fp16 + GradScaler on CUDA")
    p.add_argument("--no-channels-last", action="store_true", help="keep NCHW memory format")
    p.add_argument("--weights", type=Path, help="local torchvision state dict for the body (no download here)")
    p.add_argument("--compile", action="store_true", help="wrap the model in torch.compile")
    p.add_argument("--out", type=Path, default=Path("runs/fastkp"), help="output folder (checkpoints, metrics, plots)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pth")
    p.add_argument("--seed", type=int, default=0, help="random seed (data order, augmentation, init)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train")
    p.add_argument("--lr-find", action="store_true", help="run the learning-rate finder, save lr_find.png, and stop")
    p.add_argument("--threads", type=int, help="CPU threads for torch and DALI (default: all cores)")
    return p


def main(args: argparse.Namespace) -> int:
    from .learner import Learner

    learn = Learner(
        args.task,
        args.data,
        arch=args.arch,
        size=tuple(args.size) if args.size else None,
        bs=args.bs,
        out=args.out,
        amp=args.amp,
        channels_last=not args.no_channels_last,
        compile=args.compile,
        weights=args.weights,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
    )
    hyper = learn.hyper
    source = "synthetic demo set " + str(learn.data_dir) if learn.demo else str(learn.data_dir)
    learn._log(
        f"fastkp: task {args.task} on {source}: {len(learn.train_samples)} train / {len(learn.valid_samples)} "
        f"valid images, {learn.config.arch} at {learn.config.size}, batch {learn.bs}, device {learn.device}"
        f"{f', {learn.world} processes' if learn.world > 1 else ''}"
        f"{', amp ' + str(learn.amp_dtype).replace('torch.', '') if args.amp else ''}"
    )
    base = learn.constant_baseline()
    learn._log("constant predictor on the validation set: " + ", ".join(f"{k} {v:.4g}" for k, v in base.items()))
    if args.lr_find:
        lr = learn.lr_find()
        learn._log(f"suggested learning rate: {lr:.2e} (plot: {learn.out / 'lr_find.png'})")
        return 0
    learn.fine_tune(
        args.epochs if args.epochs is not None else hyper.epochs,
        args.lr if args.lr is not None else hyper.lr,
        freeze_epochs=args.freeze_epochs if args.freeze_epochs is not None else hyper.freeze_epochs,
        resume=args.resume,
    )
    learn._log(f"checkpoints, metrics.jsonl and plots are in {learn.out}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    from . import distributed
    from .learner import TrainingError, UsageError

    try:
        return main(args)
    except (DatasetError, CheckpointError, UsageError) as e:
        print(f"fastkp.train: error: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"fastkp.train: stopped: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("fastkp.train: interrupted; --resume continues from the last finished epoch", file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    sys.exit(cli())
