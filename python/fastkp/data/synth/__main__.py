"""Command line: ``python -m fastkp.data.synth KIND OUT [options]``, KIND one of biwi,
pascal, landmarks, regression, agegender, classify, 300w, 300vw, coco, dlc, yolo.

Bad arguments and failures print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import run_cli
from ..formats import formats_of
from .agegender import make_agegender
from .biwi import make_biwi
from .classify import CLASS_NAMES, make_classify
from .coco import make_coco
from .dlc import make_dlc
from .landmarks import ALLOWED_K, make_landmarks
from .pascal import make_pascal
from .regression import make_regression
from .w300 import make_300vw, make_300w
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


@dataclass(frozen=True)
class Kind:
    """One generator as a sub-command: its help, what ``--n`` counts with its default and
    minimum, the default ``--size``, its own options and how the parsed arguments call it."""

    name: str
    help: str
    n_help: str
    n: int
    n_min: int
    size: str
    make: Callable[[argparse.Namespace], object]
    options: Callable[[argparse.ArgumentParser], None] = lambda p: None


def _biwi_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--persons", type=_count(2), default=4,
                   help="person folders; 13 (validation) is always one of them (default 4)")


def _landmarks_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, choices=ALLOWED_K, default=5, help="points per face (default 5)")


def _agegender_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=formats_of("agegender"), default="utkface",
                   help="utkface file names (default) or OUT/labels.csv + images/")


def _classify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--classes", type=int, choices=range(2, len(CLASS_NAMES) + 1), default=10,
                   metavar=f"2..{len(CLASS_NAMES)}", help="number of classes (default 10)")
    p.add_argument("--format", choices=formats_of("classes"), default="folders",
                   help="a folder per class (default) or OUT/labels.csv + images/")


def _300vw_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--videos", type=_count(2), default=5, help="videos, at most --n (default 5)")


KINDS = (
    Kind("biwi", "Biwi head-pose tree OUT/NN/frame_XXXXX_{rgb.jpg,pose.txt} + rgb.cal", "frames per person",
         20, 1, "480x640", lambda a: make_biwi(a.out, a.persons, a.n, seed=a.seed, size=a.size), _biwi_options),
    Kind("pascal", "PASCAL-style OUT/train.csv + OUT/train/*.jpg", "images", 200, 2, "375x500",
         lambda a: make_pascal(a.out, a.n, seed=a.seed, size=a.size)),
    Kind("landmarks", "landmark set OUT/landmarks.csv, flip.json, images/*.png", "images", 200, 2, "192x192",
         lambda a: make_landmarks(a.out, a.n, k=a.k, seed=a.seed, size=a.size), _landmarks_options),
    Kind("regression", "DIGITS linear images OUT/labels.csv (fname,gx,gy) + images/*.png", "images", 300, 2, "64x64",
         lambda a: make_regression(a.out, a.n, seed=a.seed, size=a.size)),
    Kind("agegender", "faces named {age}_{gender}_{race}_{date}.jpg.chip.jpg (or a CSV)", "images", 400, 2, "64x64",
         lambda a: make_agegender(a.out, a.n, seed=a.seed, size=a.size, format=a.format), _agegender_options),
    Kind("classify", "one shape per image in OUT/{train,valid}/CLASS/ (or a CSV)", "images, at least two per class",
         300, 4, "64x64",
         lambda a: make_classify(a.out, a.n, seed=a.seed, size=a.size, classes=a.classes, format=a.format),
         _classify_options),
    Kind("300w", "300W faces OUT/{train,valid}/SUBSET/NAME.{jpg,png} + NAME.pts (68 points)", "images", 200, 2,
         "128x128", lambda a: make_300w(a.out, a.n, seed=a.seed, size=a.size)),
    Kind("300vw", "300-VW videos OUT/NNN/annot/FFFFFF.pts + OUT/NNN/imgs/FFFFFF.jpg (read as --format 300w)",
         "frames", 200, 2, "128x128",
         lambda a: make_300vw(a.out, a.n, seed=a.seed, size=a.size, videos=a.videos), _300vw_options),
    Kind("coco", "COCO keypoints OUT/annotations/person_keypoints_{train,val}2017.json + {train,val}2017/", "images",
         200, 2, "160x160", lambda a: make_coco(a.out, a.n, seed=a.seed, size=a.size)),
    Kind("dlc", "DeepLabCut project OUT/labeled-data/VIDEO/CollectedData_synth.csv + img*.png", "frames", 200, 2,
         "128x128", lambda a: make_dlc(a.out, a.n, seed=a.seed, size=a.size)),
    Kind("yolo", "YOLO-pose set OUT/data.yaml + images/{train,val}/*.jpg + labels/{train,val}/*.txt", "images",
         200, 2, "160x160", lambda a: make_yolo(a.out, a.n, seed=a.seed, size=a.size)),
)
_BY_NAME = {kind.name: kind for kind in KINDS}


def get_args_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m fastkp.data.synth",
        description="Write a synthetic dataset in the format its fastkp reader reads.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{" + ",".join(_BY_NAME) + "}")
    for kind in KINDS:
        p = kinds.add_parser(kind.name, help=kind.help, description=kind.help)
        p.add_argument("out", metavar="OUT", help="folder to write (created if missing)")
        p.add_argument("--n", type=_count(kind.n_min), default=kind.n,
                       help=f"{kind.n_help} (default {kind.n}, at least {kind.n_min})")
        p.add_argument("--seed", type=_count(0), default=0, help="same seed, same bytes (default 0)")
        p.add_argument("--size", type=_size, default=kind.size, help=f"image HEIGHTxWIDTH (default {kind.size})")
        kind.options(p)
    return parser


def main(args: argparse.Namespace) -> int:
    _BY_NAME[args.kind].make(args)
    print(f"wrote a synthetic {args.kind} set to {args.out}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run_cli("fastkp.data.synth", main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
