"""Training speed per backbone at the demo size (96x128 input, batch 32, one keypoint head):
one optimizer step of the model ``fastkp.train`` builds, channels-last against NCHW in
fp32, and channels-last bf16 autocast where the CPU has bf16 instructions (without them
oneDNN emulates bf16 about 10x slower than fp32, and ``--amp`` trains in fp32: the row is
skipped unless ``FASTKP_BENCH_BF16=1``). CUDA runs fp16 autocast instead of bf16.

Paired rounds: before each timed round of a mode, the fp32 NCHW step of the same model
runs once (timed here), so ``extra_info`` holds ``images_per_s``, ``nchw_fp32_images_per_s``
and ``speedup_vs_nchw_fp32`` measured on the same machine state.

    pytest benchmarks/bench_backbones.py -o python_files="bench_*.py" --benchmark-only -s
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
import torch

from fastkp.heads import KeypointHead
from fastkp.model import FastkpModel
from fastkp.predictor import cpu_has_bf16
from fastkp.schedule import adamw

ARCHS = ["resnet18", "resnet50", "convnext_tiny", "efficientnet_b0", "mobilenet_v3_large", "regnet_y_800mf",
         "timm:convnext_nano", "timm:efficientnet_b0"]
SIZE, BATCH, ROUNDS = (96, 128), 32, 3
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
HALF = torch.float16 if DEVICE.type == "cuda" else torch.bfloat16


def make_step(arch: str, channels_last: bool, half: bool):
    torch.manual_seed(0)
    head = KeypointHead(n_keypoints=1)
    model = FastkpModel(arch, [head], SIZE).to(DEVICE).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = adamw(model.param_groups())
    x = torch.randn(BATCH, 3, *SIZE, device=DEVICE).to(memory_format=fmt)
    batch = {"keypoints": torch.rand(BATCH, 1, 2, device=DEVICE) * 2 - 1,
             "visible": torch.ones(BATCH, 1, dtype=torch.bool, device=DEVICE)}

    def step():
        with torch.autocast(DEVICE.type, dtype=HALF, enabled=half):
            loss = head.loss(model(x)[0], batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up: oneDNN picks its kernels on the first calls
    step()
    return step


@pytest.mark.parametrize("mode", ["channels_last_fp32", "channels_last_half"])
@pytest.mark.parametrize("arch", ARCHS)
def test_backbone_training_step(benchmark, arch, mode):
    half = mode.endswith("half")
    if half and DEVICE.type == "cpu" and not cpu_has_bf16() and os.environ.get("FASTKP_BENCH_BF16") != "1":
        pytest.skip("this CPU has no bf16 instructions: --amp trains in fp32 here (FASTKP_BENCH_BF16=1 measures it)")
    baseline, step = make_step(arch, False, False), make_step(arch, True, half)
    ref: list[float] = []

    def run_baseline():
        t0 = time.perf_counter()
        baseline()
        ref.append(time.perf_counter() - t0)

    benchmark.pedantic(step, setup=run_baseline, rounds=ROUNDS, iterations=1)
    median, ref_median = statistics.median(benchmark.stats.stats.data), statistics.median(ref)
    info = {"images_per_s": round(BATCH / median, 1), "nchw_fp32_images_per_s": round(BATCH / ref_median, 1),
            "speedup_vs_nchw_fp32": round(ref_median / median, 3), "threads": torch.get_num_threads()}
    benchmark.extra_info.update(info)
    print(f"\n{arch} {mode}: " + ", ".join(f"{k}={v}" for k, v in info.items()))
