"""Measurements of tools/gpu_check.py on a CUDA device (run by it, one subcommand each):

  gpu_bench.py train RESULT.json            ResNet-18 training step, 224x224, batch 256
  gpu_bench.py export DIR                   a random checkpoint exported as TorchScript and pt2 (CUDA)
  gpu_bench.py deploy DIR RESULT.json [--infer PROGRAM]
                                            those exports (and fastkp-infer) against eager, batch 1 and 32

Each writes its JSON again after every row, so a run stopped by its time limit
still leaves what it measured. Times come from the benchmarks' timer
(benchmarks/conftest.py: CUDA synchronised around blocks of calls).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "tests"))  # support.models: how the tests make a checkpoint

_spec = importlib.util.spec_from_file_location("bench_timing", ROOT / "benchmarks" / "conftest.py")
timing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(timing)

BATCH, SIZE = 256, (224, 224)
TRAIN_SETTINGS = {  # name -> (channels_last, autocast dtype or None)
    "fp32 NCHW": (False, None),
    "channels_last fp16 (autocast + GradScaler)": (True, torch.float16),
    "channels_last bf16 (autocast)": (True, torch.bfloat16),
}
NET, FRAME = (240, 320), (480, 640)  # the Biwi demo's network input and camera frames, as bench_deploy
DEPLOY_BATCHES = (1, 32)


def write(path: Path, rows: list[dict], **extra) -> None:
    path.write_text(json.dumps({"rows": rows, **extra}, indent=1))


def train(result: Path) -> None:
    from fastkp.heads import KeypointHead
    from fastkp.model import FastkpModel
    from fastkp.schedule import adamw

    torch.backends.cudnn.benchmark = True
    rows: list[dict] = []
    for name, (channels_last, dtype) in TRAIN_SETTINGS.items():
        torch.manual_seed(0)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = FastkpModel("resnet18", [KeypointHead(n_keypoints=1)]).cuda().to(memory_format=fmt).train()
        opt = adamw(model.param_groups())  # the optimiser training uses
        scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
        images = torch.randn(BATCH, 3, *SIZE, device="cuda").contiguous(memory_format=fmt)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=dtype or torch.float16, enabled=dtype is not None):
                out = model(images)[0]
            loss = F.mse_loss(out.float(), torch.full_like(out, 0.5, dtype=torch.float32))
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

        torch.cuda.reset_peak_memory_stats()
        secs = timing.timed({"step": step}, "cuda", min_time=1.0)["step"]
        rows.append({"setting": name, "batch": BATCH, "size": list(SIZE), "step_ms": round(secs * 1e3, 2),
                     "img_per_s": round(BATCH / secs, 1),
                     "peak_memory_GiB": round(torch.cuda.max_memory_allocated() / 2**30, 2)})
        write(result, rows, cudnn_benchmark=True)
        del step, model, opt, images  # before the next setting's peak is measured
        torch.cuda.empty_cache()


def export(folder: Path) -> None:
    from fastkp.export import export_checkpoint
    from support.models import make_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (*FRAME, 3), dtype=np.uint8)
    (folder / "frame.ppm").write_bytes(f"P6\n{FRAME[1]} {FRAME[0]}\n255\n".encode() + pixels.tobytes())
    np.save(folder / "frame.npy", pixels)
    ckpt = make_checkpoint(folder / "model.pth", keypoints=True, size=NET)
    rows = []
    for fmt, file in (("torchscript", "model.pt"), ("pt2", "model.pt2")):
        t0 = time.perf_counter()
        export_checkpoint(ckpt, folder / file, fmt, device="cuda")
        rows.append({"format": fmt, "file": file, "export_s": round(time.perf_counter() - t0, 1)})
        write(folder / "export.json", rows)


def infer_ms(program: Path, model: Path, frame: Path, batch: int) -> float:
    """fastkp-infer's own median of its forward passes (decode and loading excluded)."""
    runs = 20 if batch == 1 else 5
    proc = subprocess.run([str(program), str(model), *[str(frame)] * batch, "--device", "cuda", "--bench", str(runs)],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])["bench"]["median_ms"]


def to_host(out) -> list[torch.Tensor]:
    return [o.cpu() for o in (out if isinstance(out, (list, tuple)) else [out])]


def deploy(folder: Path, result: Path, program: Path | None) -> None:
    from fastkp.export import deploy_module, load

    frame = torch.from_numpy(np.load(folder / "frame.npy"))
    module = deploy_module(folder / "model.pth")[0].cuda().eval()

    def eager(images):
        with torch.inference_mode():
            return module(images.cuda())

    engines = {"eager": eager}
    for fmt, file in (("torchscript", "model.pt"), ("pt2", "model.pt2")):
        if (folder / file).exists():
            engines[fmt] = load(folder / file, "cuda")
    rows: list[dict] = []
    for batch in DEPLOY_BATCHES:
        images = frame.expand(batch, *frame.shape).contiguous()
        # uint8 frames on the host in, answers back on the host: what a caller sees
        times = timing.timed({n: (lambda e=e: to_host(e(images))) for n, e in engines.items()}, "cuda", min_time=0.5)
        if program is not None:
            for fmt, file in (("torchscript", "model.pt"), ("pt2", "model.pt2")):
                if (folder / file).exists():
                    times[f"fastkp-infer {fmt}"] = infer_ms(program, folder / file, folder / "frame.ppm", batch) / 1e3
        for name, secs in times.items():
            rows.append({"engine": name, "batch": batch, "ms": round(secs * 1e3, 3),
                         "img_per_s": round(batch / secs, 1), "speedup_vs_eager": round(times["eager"] / secs, 2)})
        write(result, rows, frame=list(FRAME), net=list(NET))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("train").add_argument("result", type=Path)
    sub.add_parser("export").add_argument("folder", type=Path)
    d = sub.add_parser("deploy")
    d.add_argument("folder", type=Path)
    d.add_argument("result", type=Path)
    d.add_argument("--infer", type=Path, help="the fastkp-infer program (omitted: not measured)")
    args = p.parse_args(argv)
    if args.command == "train":
        train(args.result)
    elif args.command == "export":
        export(args.folder)
    else:
        deploy(args.folder, args.result, args.infer)


if __name__ == "__main__":
    main()
