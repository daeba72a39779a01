"""Synthetic DeepLabCut project: a mouse seen from above, in any heading.

Body parts sit on what is drawn: the snout on the nose dot, the ears on pink ears,
the paws on pink paws, the tail's base and tip at the ends of the tail. Their names
mix DeepLabCut users' styles (``leftear`` as in DeepLabCut's open-field example,
``L_forepaw``, ``left_hindpaw``, ``tailbase``), so each way of pairing sides by name
is read. About ``UNLABELLED`` of the points are empty cells; about ``NEAR_EDGE`` of the
mice stand over an edge (their points outside the image are kept, as DeepLabCut keeps
them). The first video's CSV has the three index columns of DeepLabCut 2.2+, the others
the single path column of older versions. Coordinates are written as DeepLabCut's pixel
indices (``dlc.DLC_SHIFT``); frames are PNG, as DeepLabCut extracts them. ``config.yaml``
holds the fields DeepLabCut writes (no project path or videos on disk); beside each CSV
is the same table as DeepLabCut's ``.h5`` where pandas and PyTables are installed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import yaml
from tqdm.auto import tqdm

from ..dlc import DLC_SHIFT, HEADER, LABELED
from ..dlc_config import CONFIG
from .draw import HAIR, clutter, fill_ellipse, gradient, jitter, save

BODYPARTS = (
    "snout", "leftear", "rightear", "L_forepaw", "R_forepaw", "left_hindpaw", "right_hindpaw",
    "tailbase", "tail_tip",
)  # fmt: skip
SCORER = "synth"
TRAINING_FRACTION = 0.8  # DeepLabCut's default is 0.95; 0.8 keeps small sets' validation split
H5_KEY = "df_with_missing"  # the key DeepLabCut saves its CollectedData table under
UNLABELLED = 0.1
NEAR_EDGE = 0.15
PINK = (235, 160, 170)


def _local(rng: np.random.Generator) -> np.ndarray:
    """(K, 2) body parts as (forward, left) in body lengths, origin mid-body."""
    curl = rng.uniform(-0.8, 0.8)
    return np.array([
        (0.5, 0.0), (0.3, 0.09), (0.3, -0.09), (0.2, 0.17), (0.2, -0.17), (-0.25, 0.17), (-0.25, -0.17),
        (-0.4, 0.0), (-0.4 - 0.35 * math.cos(curl), 0.35 * math.sin(curl)),
    ])  # fmt: skip


def mouse_image(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One frame (H, W, 3) float and its (K, 2) body parts in fastkp pixels."""
    h, w = size
    heading = rng.uniform(0, 2 * math.pi)
    length = rng.uniform(0.5, 0.7) * min(h, w)
    if rng.random() < NEAR_EDGE:
        centre = np.array([rng.choice([0.12, 0.88]) * w, rng.uniform(0.3, 0.7) * h])
    else:
        centre = rng.uniform((0.35 * w, 0.35 * h), (0.65 * w, 0.65 * h))
    forward = np.array([math.cos(heading), math.sin(heading)])
    left = np.array([forward[1], -forward[0]])  # seen from above with y down

    def at(f: float, l: float) -> tuple[float, float]:
        x, y = centre + length * (f * forward + l * left)
        return float(x), float(y)

    def ellipse(f: float, l: float, rf: float, rl: float, colour, turn: float = 0.0) -> None:
        fill_ellipse(img, at(f, l), (length * rf, length * rl), heading + turn, colour)

    local = _local(rng)
    fur = jitter(rng, HAIR[rng.integers(len(HAIR))], 20)
    img = clutter(rng, gradient(rng, size, saturation=0.4), int(rng.integers(0, 3)))
    (f0, l0), (f1, l1) = local[7], local[8]
    ellipse((f0 + f1) / 2, (l0 + l1) / 2, math.hypot(f1 - f0, l1 - l0) / 2, 0.015, PINK,
            -math.atan2(l1 - l0, f1 - f0))  # (forward, left) turns the other way
    for f, l in local[3:7]:
        ellipse(f, l, 0.035, 0.035, PINK)
    ellipse(-0.05, 0, 0.38, 0.15, fur)
    ellipse(0.32, 0, 0.17, 0.11, fur)
    for f, l in local[1:3]:
        ellipse(f, l, 0.045, 0.045, PINK)
    ellipse(*local[0], 0.02, 0.02, (30, 20, 25))
    return img, np.array([at(f, l) for f, l in local])


def _config(videos: int, size: tuple[int, int]) -> dict:
    h, w = size
    return {
        "Task": "synth", "scorer": SCORER, "date": "Jan1", "multianimalproject": False, "identity": None,
        "video_sets": {f"videos/video{v + 1}.mp4": {"crop": f"0, {w}, 0, {h}"} for v in range(videos)},
        "bodyparts": list(BODYPARTS), "start": 0, "stop": 1, "numframes2pick": 20,
        "skeleton": [["snout", "leftear"], ["snout", "rightear"], ["tailbase", "tail_tip"]],
        "skeleton_color": "black", "pcutoff": 0.6, "dotsize": 12, "alphavalue": 0.7, "colormap": "rainbow",
        "TrainingFraction": [TRAINING_FRACTION], "iteration": 0, "default_net_type": "resnet_50",
        "snapshotindex": -1, "batch_size": 8,
    }  # fmt: skip


def _pandas() -> object | None:
    try:
        import pandas as pd
        import tables  # noqa: F401 - DataFrame.to_hdf needs it
    except ImportError:
        return None
    return pd


def _write_h5(pd, path: Path, rows: list[list[str]], n_index: int) -> None:
    """The CSV's table as DeepLabCut saves it: ``DataFrame.to_hdf`` (fixed format), columns
    scorer/bodyparts/coords, index the frame paths (three parts, or one)."""
    header, body = rows[:3], rows[3:]
    columns = pd.MultiIndex.from_arrays([r[n_index:] for r in header], names=list(HEADER))
    index = (pd.MultiIndex.from_tuples([tuple(r[:n_index]) for r in body]) if n_index > 1
             else pd.Index([r[0] for r in body]))
    values = np.array([[float(c) if c else np.nan for c in r[n_index:]] for r in body])
    pd.DataFrame(values, index=index, columns=columns).to_hdf(path, key=H5_KEY, mode="w")


def make_dlc(
    root: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (128, 128), videos: int = 2,
    progress: bool = False,
) -> Path:
    """Write ``root/config.yaml``, ``root/labeled-data/videoN/CollectedData_synth.csv`` (and
    ``.h5`` where pandas is installed) and ``imgNNNN.png`` frames (``size`` = (height, width)),
    the frames dealt to ``videos`` folders in turn. Same arguments, same bytes (the .h5
    files: the same table; HDF5 stamps each array with the time it was written)."""
    if n_images < 2:
        raise ValueError(f"n_images must be >= 2 (a training and a validation image), got {n_images}")
    root = Path(root).expanduser()
    rows: dict[int, list[list[str]]] = {v: [] for v in range(min(videos, n_images))}
    for i in tqdm(range(n_images), desc="DeepLabCut demo set", unit="img", disable=not progress):
        rng = np.random.default_rng([seed, i])
        video = i % len(rows)
        folder = root / LABELED / f"video{video + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"img{i:04d}.png"
        img, points = mouse_image(rng, size)
        save(img, folder / name)
        hidden = rng.random(len(BODYPARTS)) < UNLABELLED
        cells = [c for (x, y), off in zip(points, hidden)
                 for c in (("", "") if off else (f"{x - DLC_SHIFT:.4f}", f"{y - DLC_SHIFT:.4f}"))]
        index = [LABELED, folder.name, name] if video == 0 else [f"{LABELED}/{folder.name}/{name}"]
        rows[video].append(index + cells)
    (root / CONFIG).write_text(yaml.safe_dump(_config(len(rows), size), sort_keys=False), encoding="utf-8")
    pd = _pandas()
    for video, body in rows.items():
        n_index = 3 if video == 0 else 1
        pad = [""] * (n_index - 1)
        header = [
            ["scorer", *pad] + [SCORER] * (2 * len(BODYPARTS)),
            ["bodyparts", *pad] + [p for p in BODYPARTS for _ in "xy"],
            ["coords", *pad] + ["x", "y"] * len(BODYPARTS),
        ]
        path = root / LABELED / f"video{video + 1}" / f"CollectedData_{SCORER}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(header + body)
        if pd is not None:
            _write_h5(pd, path.with_suffix(".h5"), header + body, n_index)
    return root
