"""Synthetic YOLO-pose set: the COCO generator's people, written as Ultralytics writes them.

``data.yaml`` names ``images/train`` and ``images/val``, ``kpt_shape: [17, 3]``, the
COCO ``flip_idx`` and ``names: {0: person}``; each image has ``labels/SPLIT/NAME.txt``
with one line ``0 cx cy w h x1 y1 v1 ...`` per person, normalised by the image size
(points outside the image are unlabelled, ``0 0 0``; boxes may reach outside it). About
``BACKGROUND`` of the images show no one and have no label file, as YOLO allows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from tqdm.auto import tqdm

from ..flips import flip_from_names
from .coco import COCO_NAMES, draw_people
from .draw import clutter, gradient, save

BACKGROUND = 0.05


def label_line(pts: np.ndarray, vis: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> str:
    """``0 cx cy w h x1 y1 v1 ...`` normalised by ``size`` = (height, width)."""
    h, w = size
    x0, y0, x1, y1 = box
    values = [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]
    fields = ["0"] + [f"{v:.6f}" for v in values]
    for (x, y), v in zip(pts, vis):
        fields += [f"{x / w:.6f}", f"{y / h:.6f}", str(int(v))] if v else ["0.000000", "0.000000", "0"]
    return " ".join(fields)


def make_yolo(
    root: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (160, 160), progress: bool = False
) -> Path:
    """Write ``root/data.yaml``, ``root/images/{train,val}/NNNNN.jpg`` and
    ``root/labels/{train,val}/NNNNN.txt`` (a fifth of the images in val). Same arguments,
    same bytes."""
    if n_images < 2:
        raise ValueError(f"n_images must be >= 2 (a training and a validation image), got {n_images}")
    root = Path(root).expanduser()
    n_valid = max(1, round(0.2 * n_images))
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(n_images), desc="YOLO-pose demo set", unit="img", disable=not progress):
        rng = np.random.default_rng([seed, i])
        split = "val" if i >= n_images - n_valid else "train"
        name = f"{i + 1:05d}"
        if i not in (0, n_images - n_valid) and rng.random() < BACKGROUND:  # each split keeps one person
            save(clutter(rng, gradient(rng, size), 3), root / "images" / split / f"{name}.jpg")
            continue
        img, people = draw_people(rng, size)
        save(img, root / "images" / split / f"{name}.jpg")
        lines = [label_line(pts, vis, box, size) for pts, vis, box, _ in people]
        (root / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {
        "path": ".", "train": "images/train", "val": "images/val", "kpt_shape": [17, 3],
        "flip_idx": flip_from_names(COCO_NAMES, "COCO names").tolist(), "names": {0: "person"},
        "kpt_names": {0: list(COCO_NAMES)},
    }  # fmt: skip
    (root / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=None), encoding="utf-8")
    return root
