"""``python -m fastkp.export CKPT --out model.pt [--format torchscript|pt2]``."""

from __future__ import annotations

import argparse
import sys

from ..checkpoint import CheckpointError
from .exporter import export_checkpoint
from .metadata import FORMATS


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fastkp.export", description=(
        "Export a fastkp checkpoint as one self-describing file: forward(uint8 (B, H, W, 3) RGB "
        "images of any size) -> keypoints (B, K, 2) in input pixels or probabilities (B, C); "
        "metadata in extra/fastkp.json."))
    p.add_argument("checkpoint", help="checkpoint written by fastkp training (e.g. OUT/best.pth)")
    p.add_argument("--out", required=True, help="output file (model.pt for TorchScript, model.pt2 for pt2)")
    p.add_argument("--format", choices=FORMATS, default="torchscript",
                   help="torchscript (default) or pt2: torch.export + AOTInductor package")
    p.add_argument("--no-freeze", dest="freeze", action="store_false",
                   help="do not freeze (fold weights and BatchNorm into the graph: torch.jit.freeze, "
                        "or Inductor's freezing for pt2)")
    p.add_argument("--device", default="cpu",
                   help="pt2: the device the package is compiled for (cpu or cuda); TorchScript runs anywhere")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        meta = export_checkpoint(args.checkpoint, args.out, args.format, args.freeze, args.device)
    except CheckpointError as e:
        print(f"fastkp.export: {e}", file=sys.stderr)
        return 2
    what = f"{meta.n_keypoints} keypoints" if meta.keypoints else f"{len(meta.vocab)} labels"
    print(f"wrote {args.out}: {meta.export_format}, {meta.arch} {meta.task} ({what}), "
          f"input {meta.input_size[0]}x{meta.input_size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
