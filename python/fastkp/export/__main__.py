"""``python -m fastkp.export CKPT --out model.pt [--format torchscript|pt2|onnx]`` (``fastkp-export``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ArgumentParser, UsageError, run_cli
from .exporter import check_device, export_checkpoint
from . import formats

PROG = "fastkp.export"


def get_args_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m fastkp.export", description=(
        "Export a fastkp checkpoint as one self-describing file: forward(uint8 (B, H, W, 3) RGB "
        "images of any size[, float32 (B, 4) boxes for a model trained on box crops]) -> one answer per "
        "head (keypoints (B, K, 2) in input pixels, "
        "probabilities (B, C), ...); metadata in extra/fastkp.json (ONNX: metadata_props)."))
    p.add_argument("checkpoint", type=Path, help="checkpoint written by fastkp training (e.g. OUT/best.pth)")
    p.add_argument("--out", type=Path, required=True,
                   help="output file (model.pt for TorchScript, model.pt2 for pt2, model.onnx for ONNX)")
    p.add_argument("--format", choices=formats.names(), default=formats.names()[0],
                   help="torchscript (default); pt2: torch.export + AOTInductor package; onnx: ONNX opset 18 "
                        "for onnxruntime (needs fastkp[onnx]; fastkp-infer does not run it)")
    p.add_argument("--no-freeze", dest="freeze", action="store_false",
                   help="do not freeze (fold weights and BatchNorm into the graph: torch.jit.freeze, "
                        "or Inductor's freezing for pt2)")
    p.add_argument("--tta", choices=["flip"],
                   help="flip: the model also runs the mirrored image and averages the two answers "
                        "(keypoint heads with a flip permutation; recorded in fastkp.json)")
    p.add_argument("--device", default="cpu",
                   help="pt2: the device the package is compiled for (cpu or cuda); TorchScript runs anywhere")
    return p


def main(args: argparse.Namespace) -> int:
    out = args.out.expanduser()
    try:
        check_device(args.device)  # before the checkpoint is read
    except UsageError as e:
        raise UsageError(f"--{e}") from None
    meta = export_checkpoint(args.checkpoint.expanduser(), out, args.format, args.freeze, args.device, args.tta)
    heads = ", ".join(f"{h['name']} ({h['kind']})" for h in meta.heads)
    print(f"wrote {out}: {meta.export_format}, {meta.arch} {meta.task}, heads {heads}, "
          f"input {meta.input_size[0]}x{meta.input_size[1]}"
          + (", takes boxes" if meta.box_crop else "") + (f", tta {meta.tta}" if meta.tta else ""))
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run_cli(PROG, main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
