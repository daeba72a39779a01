"""The plain PyTorch script fastkp is measured against, on whole-image keypoint data.

torchvision ResNet-18 (random weights) with a linear head, AdamW one-cycle at 3e-3 over
all layers, weight decay 0.01, MSE over the labelled points, flip-only augmentation (with
the data set's left/right permutation), batch 16, channels-last, bf16 autocast where the
CPU has bf16 instructions (fp32 elsewhere, as ``fastkp.train --amp`` decides: bf16 without
them runs ~10x slower); images decoded by torchvision in a DataLoader. The same split and
targets as fastkp (its reader for ``--task``/``--format``: Biwi by default, DeepLabCut,
landmark CSV, ...) and the same metric: ``rmse_px``, the RMS point distance in pixels of
the network input over labelled points. Prints one JSON line per epoch and a summary line.

    python benchmarks/plain_baseline.py DATA --epochs 15 --size 96 128
    python benchmarks/plain_baseline.py DLC_PROJECT --task keypoints --format dlc --epochs 60 --size 192 192
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Dataset

from fastkp.tasks import TASKS

BF16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


class Frames(Dataset):
    def __init__(self, samples, size, train, flip_index):
        self.samples, self.size, self.train, self.flip_index = samples, size, train, flip_index

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        s = self.samples[i]
        image = torchvision.io.decode_image(torchvision.io.read_file(s.path), torchvision.io.ImageReadMode.RGB)
        image = F.interpolate(image[None].float() / 255, size=self.size, mode="bilinear", align_corners=False)[0]
        h, w = s.size
        points = torch.tensor(s.keypoints, dtype=torch.float32) * torch.tensor([2 / w, 2 / h]) - 1
        known = torch.isfinite(points).all(-1)
        if self.train and torch.rand(()) < 0.5:
            image, points = image.flip(-1), points * torch.tensor([-1.0, 1.0])
            if self.flip_index is not None:
                points, known = points[self.flip_index], known[self.flip_index]
        return (image - MEAN) / STD, torch.nan_to_num(points), known


def masked_mse(pred, points, known):
    w = known.unsqueeze(-1).float()
    return ((pred - points).square() * w).sum() / (2 * w.sum()).clamp_min(1)


def rmse_px(model, loader, size):
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
        for x, y, known in loader:
            pred = model(x.to(memory_format=torch.channels_last)).float().view_as(y)
            d = (pred - y) * torch.tensor([size[1] / 2, size[0] / 2])
            total, n = total + (d.square().sum(-1) * known).sum().item(), n + int(known.sum())
    return (total / max(n, 1)) ** 0.5


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--task", default="biwi")
    p.add_argument("--format", help="the data layout (default: the task's)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--size", type=int, nargs=2, default=(96, 128))
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    torch.manual_seed(0)
    d = TASKS[args.task].read(args.data, args.format)
    flip = None if d.meta.flip_index is None else torch.tensor(np.asarray(d.meta.flip_index))
    size, k = tuple(args.size), d.train[0].keypoints.shape[0]
    train_dl = DataLoader(Frames(d.train, size, True, flip), 16, shuffle=True, drop_last=True, num_workers=args.workers)
    valid_dl = DataLoader(Frames(d.valid, size, False, flip), 64, num_workers=args.workers)
    model = torchvision.models.resnet18(weights=None)
    model.fc = torch.nn.Linear(model.fc.in_features, 2 * k)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=args.epochs * len(train_dl))
    best, seen, train_s = float("inf"), 0, 0.0
    for epoch in range(args.epochs):
        model.train()
        t0 = time.perf_counter()
        for x, y, known in train_dl:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
                loss = masked_mse(model(x.to(memory_format=torch.channels_last)).float().view_as(y), y, known)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            seen += len(y)
        train_s += time.perf_counter() - t0
        error = rmse_px(model, valid_dl, size)
        best = min(best, error)
        print(json.dumps({"epoch": epoch + 1, "rmse_px": round(error, 4)}), flush=True)
    print(json.dumps({"best_rmse_px": best, "train_img_s": seen / train_s}))


if __name__ == "__main__":
    main()
