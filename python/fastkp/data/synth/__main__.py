"""Command line: ``python -m fastkp.data.synth KIND OUT [options]``, KIND one of biwi,
pascal, landmarks, regression, agegender, classify, 300w, coco, dlc, yolo.

Bad arguments and failures print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ...errors import run_cli
from ..classes import FORMATS as CLASSIFY_FORMATS
from ..utkface import FORMATS as AGEGENDER_FORMATS
from .agegender import make_agegender
from .biwi import make_biwi
from .classify import CLASS_NAMES, make_classify
from .coco import make_coco
from .dlc import make_dlc
from .landmarks import ALLOWED_K, make_landmarks
from .pascal import make_pascal
from .regression import make_regression
from .w300 import make_300w
from .yolo import make_yolo


class _Parser(argparse.ArgumentParser):
    """Reports a usage error as one line on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value

    return parse


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHTxWIDTH, e.g. 480x640") from None
    if h < 16 or w < 16:
        raise argparse.ArgumentTypeError(f"{text!r}: height and width must be >= 16")
    return h, w


def get_args_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m fastkp.data.synth",
        description="Write a synthetic dataset in the format its fastkp reader reads.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True,
                                  metavar="{biwi,pascal,landmarks,regression,agegender,classify,300w,coco,dlc,yolo}")

    def common(name: str, help: str, n_help: str, n: int, n_min: int, size: str) -> argparse.ArgumentParser:
        p = kinds.add_parser(name, help=help, description=help)
        p.add_argument("out", metavar="OUT", help="folder to write (created if missing)")
        p.add_argument("--n", type=_count(n_min), default=n, help=f"{n_help} (default {n}, at least {n_min})")
        p.add_argument("--seed", type=_count(0), default=0, help="same seed, same bytes (default 0)")
        p.add_argument("--size", type=_size, default=size, help=f"image HEIGHTxWIDTH (default {size})")
        return p

    biwi = common("biwi", "Biwi head-pose tree OUT/NN/frame_XXXXX_{rgb.jpg,pose.txt} + rgb.cal",
                  "frames per person", 20, 1, "480x640")  # fmt: skip
    biwi.add_argument("--persons", type=_count(2), default=4,
                      help="person folders; 13 (validation) is always one of them (default 4)")  # fmt: skip
    common("pascal", "PASCAL-style OUT/train.csv + OUT/train/*.jpg", "images", 200, 2, "375x500")
    landmarks = common("landmarks", "landmark set OUT/landmarks.csv, flip.json, images/*.png",
                       "images", 200, 2, "192x192")  # fmt: skip
    landmarks.add_argument("--k", type=int, choices=ALLOWED_K, default=5, help="points per face (default 5)")
    common("regression", "DIGITS linear images OUT/labels.csv (fname,gx,gy) + images/*.png",
           "images", 300, 2, "64x64")  # fmt: skip
    agegender = common("agegender", "faces named {age}_{gender}_{race}_{date}.jpg.chip.jpg (or a CSV)",
                       "images", 400, 2, "64x64")  # fmt: skip
    agegender.add_argument("--format", choices=AGEGENDER_FORMATS, default="utkface",
                           help="utkface file names (default) or OUT/labels.csv + images/")  # fmt: skip
    classify = common("classify", "one shape per image in OUT/{train,valid}/CLASS/ (or a CSV)",
                      "images, at least two per class", 300, 4, "64x64")  # fmt: skip
    classify.add_argument("--classes", type=int, choices=range(2, len(CLASS_NAMES) + 1), default=10,
                          metavar=f"2..{len(CLASS_NAMES)}", help="number of classes (default 10)")  # fmt: skip
    classify.add_argument("--format", choices=CLASSIFY_FORMATS, default="folders",
                          help="a folder per class (default) or OUT/labels.csv + images/")  # fmt: skip
    common("300w", "300W faces OUT/{train,valid}/SUBSET/NAME.{jpg,png} + NAME.pts (68 points)",
           "images", 200, 2, "128x128")  # fmt: skip
    common("coco", "COCO keypoints OUT/annotations/person_keypoints_{train,val}2017.json + {train,val}2017/",
           "images", 200, 2, "160x160")  # fmt: skip
    common("dlc", "DeepLabCut project OUT/labeled-data/VIDEO/CollectedData_synth.csv + img*.png",
           "frames", 200, 2, "128x128")  # fmt: skip
    common("yolo", "YOLO-pose set OUT/data.yaml + images/{train,val}/*.jpg + labels/{train,val}/*.txt",
           "images", 200, 2, "160x160")  # fmt: skip
    return parser


def main(args: argparse.Namespace) -> int:
    if args.kind == "biwi":
        make_biwi(args.out, args.persons, args.n, seed=args.seed, size=args.size)
    elif args.kind == "pascal":
        make_pascal(args.out, args.n, seed=args.seed, size=args.size)
    elif args.kind == "landmarks":
        make_landmarks(args.out, args.n, k=args.k, seed=args.seed, size=args.size)
    elif args.kind == "regression":
        make_regression(args.out, args.n, seed=args.seed, size=args.size)
    elif args.kind == "agegender":
        make_agegender(args.out, args.n, seed=args.seed, size=args.size, format=args.format)
    elif args.kind == "300w":
        make_300w(args.out, args.n, seed=args.seed, size=args.size)
    elif args.kind == "coco":
        make_coco(args.out, args.n, seed=args.seed, size=args.size)
    elif args.kind == "dlc":
        make_dlc(args.out, args.n, seed=args.seed, size=args.size)
    elif args.kind == "yolo":
        make_yolo(args.out, args.n, seed=args.seed, size=args.size)
    else:
        make_classify(args.out, args.n, seed=args.seed, size=args.size, classes=args.classes, format=args.format)
    print(f"wrote a synthetic {args.kind} set to {args.out}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run_cli("fastkp.data.synth", main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
