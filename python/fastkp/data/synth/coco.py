"""Synthetic COCO keypoints set: drawn people with the 17 COCO points on their joints.

Each image holds 1 to ``MAX_PEOPLE`` people facing the camera (so ``left_*`` is on
the image's right), side by side: a head with eyes, nose and ears, a torso, limbs
as bars and a dot on every shoulder, elbow, wrist, hip, knee and ankle. About
``NEAR_EDGE`` of the images push a person over an edge: their box reaches outside
the image and their points outside it are unlabelled (v 0), as COCO marks them;
about ``UNLABELLED`` of the other points are unlabelled too; a person has one joint
hidden behind a block with probability ``OCCLUDED`` (v 1). Some images also hold a
crowd annotation. Keypoints are written as COCO's integer pixel indices
(``coco.COCO_SHIFT``), boxes as [x, y, w, h], and ``area`` as COCO's segment area: the
drawn person's pixels inside the image (0.2 to 0.45 of the box's w * h here).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .draw import SKIN, Colour, clutter, fill_ellipse, gradient, jitter, save

COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
    (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip  (1-based, as COCO's person category gives it)
MAX_PEOPLE = 3
NEAR_EDGE = 0.25
UNLABELLED = 0.05
OCCLUDED = 0.3
CROWD = 0.15
JOINT_COLOURS: dict[str, Colour] = {
    "shoulder": (240, 200, 40), "elbow": (40, 200, 240), "wrist": (240, 60, 200),
    "hip": (60, 230, 90), "knee": (250, 120, 30), "ankle": (150, 90, 250),
}  # fmt: skip


def _pose(rng: np.random.Generator) -> np.ndarray:
    """(17, 2) points in person units (height about 1, origin between the hips, v down)."""
    p = {"nose": (0.0, -0.78)}
    for side, s in (("left", 1), ("right", -1)):  # facing the camera: the person's left is +u
        p[f"{side}_eye"] = (s * 0.03, -0.815)
        p[f"{side}_ear"] = (s * 0.075, -0.80)
        sh = p[f"{side}_shoulder"] = (s * 0.12, -0.62)
        a1 = rng.uniform(-0.3, 1.6)
        a2 = a1 + rng.uniform(-1.2, 1.2)
        el = p[f"{side}_elbow"] = (sh[0] + s * 0.17 * math.sin(a1), sh[1] + 0.17 * math.cos(a1))
        p[f"{side}_wrist"] = (el[0] + s * 0.15 * math.sin(a2), el[1] + 0.15 * math.cos(a2))
        hip = p[f"{side}_hip"] = (s * 0.08, 0.0)
        b1 = rng.uniform(-0.1, 0.4)
        b2 = b1 + rng.uniform(-0.4, 0.3)
        kn = p[f"{side}_knee"] = (hip[0] + s * 0.23 * math.sin(b1), hip[1] + 0.23 * math.cos(b1))
        p[f"{side}_ankle"] = (kn[0] + s * 0.23 * math.sin(b2), kn[1] + 0.23 * math.cos(b2))
    return np.array([p[n] for n in COCO_NAMES])


def _draw_person(img: np.ndarray, rng: np.random.Generator, pts: np.ndarray, scale: float) -> float:
    """Draw one person into ``img``; the pixel area it covers (a mask drawn alongside)."""
    mask = np.zeros((*img.shape[:2], 1), np.float32)

    def ellipse(centre, radii, angle, colour) -> None:
        fill_ellipse(img, centre, radii, angle, colour)
        fill_ellipse(mask, centre, radii, angle, (1.0,))

    skin = jitter(rng, SKIN[rng.integers(len(SKIN))], 12)
    cloth = tuple(float(c) for c in rng.uniform(30, 220, 3))
    trousers = tuple(float(c) for c in rng.uniform(20, 160, 3))
    at = {n: pts[i] for i, n in enumerate(COCO_NAMES)}

    def bar(a: np.ndarray, b: np.ndarray, thick: float, colour: Colour) -> None:
        d = b - a
        ellipse(tuple((a + b) / 2), (max(float(np.hypot(*d)) / 2, thick * scale), thick * scale),
                math.atan2(d[1], d[0]), colour)

    hips = (at["left_hip"] + at["right_hip"]) / 2
    shoulders = (at["left_shoulder"] + at["right_shoulder"]) / 2
    for side in ("left", "right"):
        bar(at[f"{side}_hip"], at[f"{side}_knee"], 0.045, trousers)
        bar(at[f"{side}_knee"], at[f"{side}_ankle"], 0.04, trousers)
    ellipse(tuple((hips + shoulders) / 2), (0.14 * scale, float(np.hypot(*(hips - shoulders))) / 2
            + 0.03 * scale), math.atan2(*(shoulders - hips)[::-1]) + math.pi / 2, cloth)
    bar(shoulders, at["nose"], 0.03, skin)
    for side in ("left", "right"):
        bar(at[f"{side}_shoulder"], at[f"{side}_elbow"], 0.035, cloth)
        bar(at[f"{side}_elbow"], at[f"{side}_wrist"], 0.03, skin)
    head = at["nose"] - (0, 0.02 * scale)
    for side in ("left", "right"):  # behind the head, their centres just outside it
        ellipse(tuple(at[f"{side}_ear"]), (0.015 * scale, 0.025 * scale), 0,
                (skin[0] * 0.75, skin[1] * 0.75, skin[2] * 0.75))
    ellipse(tuple(head), (0.068 * scale, 0.09 * scale), 0, skin)
    for side in ("left", "right"):
        ellipse(tuple(at[f"{side}_eye"]), (0.011 * scale, 0.011 * scale), 0, (20, 20, 30))
    nose = (skin[0] * 0.6, skin[1] * 0.6, skin[2] * 0.6)
    ellipse(tuple(at["nose"]), (0.012 * scale, 0.01 * scale), 0, nose)
    for name, colour in JOINT_COLOURS.items():
        for side in ("left", "right"):
            ellipse(tuple(at[f"{side}_{name}"]), (0.02 * scale, 0.02 * scale), 0, colour)
    return float(mask.sum())


def draw_people(
    rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]]:
    """One image (H, W, 3) float and its people: (points (17, 2) in fastkp pixels,
    visibility (17,) int8, box (x0, y0, x1, y1), the pixel area drawn), the box not
    clipped to the image."""
    h, w = size
    img = clutter(rng, gradient(rng, size, saturation=0.5), int(rng.integers(1, 4)))
    n = int(rng.integers(1, MAX_PEOPLE + 1))
    edge = rng.random() < NEAR_EDGE
    people = []
    for j in range(n):
        scale = rng.uniform(0.55, 0.85) * h / (1 + 0.3 * (n > 1))
        u = (j + 0.5) / n * w + rng.uniform(-0.05, 0.05) * w
        if edge and j == n - 1:
            u = w - rng.uniform(0.0, 0.08) * w
        centre = np.array([u, h / 2 + rng.uniform(-0.05, 0.1) * h + 0.1 * scale])
        pts = centre + scale * _pose(rng)
        area = _draw_person(img, rng, pts, scale)
        vis = np.full(len(COCO_NAMES), 2, np.int8)
        if rng.random() < OCCLUDED:
            i = int(rng.integers(5, len(COCO_NAMES)))
            r = 0.04 * scale
            x, y = pts[i] + rng.uniform(-0.3, 0.3, 2) * r
            block = fill_rect(img, x - r, y - r, x + r, y + r, tuple(float(c) for c in rng.uniform(0, 255, 3)))
            vis[i] = 1 if block else 2
        vis[rng.random(len(COCO_NAMES)) < UNLABELLED] = 0
        outside = (pts[:, 0] < 0) | (pts[:, 0] >= w) | (pts[:, 1] < 0) | (pts[:, 1] >= h)
        vis[outside] = 0
        pad = 0.05 * scale
        top = pts[COCO_NAMES.index("nose"), 1] - 0.12 * scale
        box = np.array([pts[:, 0].min() - pad, min(top, pts[:, 1].min() - pad), pts[:, 0].max() + pad,
                        pts[:, 1].max() + pad])
        people.append((pts, vis, box, area))
    return img, people


def fill_rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: Colour) -> bool:
    """Fill the pixels whose centres lie in [x0, x1) x [y0, y1); whether any did."""
    h, w = img.shape[:2]
    c0, c1 = max(int(math.ceil(x0 - 0.5)), 0), min(int(math.ceil(x1 - 0.5)), w)
    r0, r1 = max(int(math.ceil(y0 - 0.5)), 0), min(int(math.ceil(y1 - 0.5)), h)
    if c0 >= c1 or r0 >= r1:
        return False
    img[r0:r1, c0:c1] = colour
    return True


def coco_keypoints(pts: np.ndarray, vis: np.ndarray) -> list[int]:
    """[x1, y1, v1, ...] as COCO writes them: the pixel index holding each labelled point."""
    out = []
    for (x, y), v in zip(pts, vis):
        out += [int(math.floor(x)), int(math.floor(y)), int(v)] if v else [0, 0, 0]
    return out


def _category() -> dict:
    return {"supercategory": "person", "id": 1, "name": "person", "keypoints": list(COCO_NAMES),
            "skeleton": [list(pair) for pair in SKELETON]}


def make_coco(
    root: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (160, 160), progress: bool = False
) -> Path:
    """Write ``root/annotations/person_keypoints_{train,val}2017.json`` and the JPEG images
    in ``root/{train,val}2017/`` (a fifth of the images in val). Same arguments, same bytes."""
    if n_images < 2:
        raise ValueError(f"n_images must be >= 2 (a training and a validation image), got {n_images}")
    root = Path(root).expanduser()
    n_valid = max(1, round(0.2 * n_images))
    files = {split: {"images": [], "annotations": [], "categories": [_category()]} for split in ("train", "val")}
    h, w = size
    ann_id = 0
    for i in tqdm(range(n_images), desc="COCO demo set", unit="img", disable=not progress):
        rng = np.random.default_rng([seed, i])
        split = "val" if i >= n_images - n_valid else "train"
        folder = root / f"{split}2017"
        folder.mkdir(parents=True, exist_ok=True)
        image_id = i + 1
        name = f"{image_id:012d}.jpg"
        img, people = draw_people(rng, size)
        save(img, folder / name)
        spec = files[split]
        spec["images"].append({"id": image_id, "file_name": name, "height": h, "width": w})
        for pts, vis, box, area in people:
            ann_id += 1
            x0, y0, x1, y1 = (round(float(v), 2) for v in box)
            spec["annotations"].append({
                "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "num_keypoints": int((vis > 0).sum()), "keypoints": coco_keypoints(pts, vis),
                "bbox": [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)], "area": round(area, 2),
            })  # fmt: skip
        if rng.random() < CROWD:
            ann_id += 1
            spec["annotations"].append({
                "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 1, "num_keypoints": 0,
                "keypoints": [0] * (3 * len(COCO_NAMES)), "bbox": [0.0, 0.0, w / 4, h / 4],
                "area": w * h / 16, "segmentation": {"counts": [h * w], "size": [h, w]},
            })  # fmt: skip
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, spec in files.items():
        (root / "annotations" / f"person_keypoints_{split}2017.json").write_text(json.dumps(spec), encoding="utf-8")
    return root
