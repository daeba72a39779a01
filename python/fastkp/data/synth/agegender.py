"""Synthetic age-and-gender faces, named as UTKFace names its files (or listed in a CSV).

Age (uniform over 1..90) shows three ways: the head grows until 18, the hair turns grey
from 25 to 80, and forehead lines appear from 30 (one more every 12 years). Gender
shows as hair length (long for female) and lip colour. Race (0..4, the UTKFace codes)
picks the skin tone. Images are JPEG.

``format="utkface"``: ``ROOT/{age}_{gender}_{race}_{date}.jpg.chip.jpg`` (the real
aligned set's names). ``format="csv"``: ``ROOT/labels.csv`` (``fname,age,gender`` with
gender ``male``/``female``, no ``is_valid``: the default split) and ``ROOT/images/``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..agegender import GENDERS
from ..formats import formats_of
from .draw import HAIR, SKIN, Colour, fill_ellipse, gradient, jitter, save

AGES = (1, 90)
RACE_SKIN = (0, 4, 1, 3, 2)  # UTKFace race code -> SKIN tone (white, black, asian, indian, others)
GREY: Colour = (225, 225, 225)
LIPS: tuple[Colour, Colour] = ((150, 80, 75), (205, 40, 70))  # male, female


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2]))


def face(rng: np.random.Generator, size: tuple[int, int], age: int, gender: int, race: int) -> np.ndarray:
    """One float (H, W, 3) image of a face of this age, gender (1 = female) and race."""
    h, w = size
    img = gradient(rng, size, saturation=0.3)
    r = (0.2 + 0.1 * min(age, 18) / 18) * min(h, w) * rng.uniform(0.95, 1.05)  # half face width
    cx, cy = w / 2 + rng.uniform(-0.05, 0.05) * w, h / 2 + rng.uniform(-0.05, 0.05) * h
    skin = jitter(rng, SKIN[RACE_SKIN[race]], 10)
    hair = _mix(jitter(rng, HAIR[rng.integers(len(HAIR))], 12), GREY, float(np.clip((age - 25) / 55, 0, 1)))

    def ellipse(u: float, v: float, ru: float, rv: float, colour: Colour) -> None:  # face units -> pixels
        fill_ellipse(img, (cx + u * r, cy + v * r), (ru * r, rv * r), 0.0, colour)

    ellipse(0, 2.2, 1.9, 0.9, jitter(rng, (rng.uniform(0, 255), 90, 120), 60))  # shoulders
    if gender:
        ellipse(0, 0.5, 1.3, 1.75, hair)  # long hair behind the face, down to the shoulders
    ellipse(0, -0.35, 1.1, 1.0, hair)
    ellipse(0, 0.1, 1.0, 1.25, skin)
    ellipse(0, -0.95, 0.9, 0.35, hair)  # fringe
    line = _mix(skin, (60, 30, 20), 0.55)
    for k in range(max(0, (age - 18) // 12)):
        ellipse(0, -0.2 - 0.065 * k, 0.5, 0.025, line)  # forehead lines, upwards
    for side in (-1, 1):
        ellipse(side * 0.4, 0.0, 0.17, 0.09, (245, 245, 240))
        ellipse(side * 0.4, 0.0, 0.07, 0.07, (25, 25, 35))
    ellipse(0, 0.3, 0.08, 0.07, _mix(skin, (0, 0, 0), 0.25))
    ellipse(0, 0.72, 0.32, 0.08 + 0.03 * gender, LIPS[gender])
    return img


def make_agegender(
    root: str | Path, n_images: int, seed: int = 0, size: tuple[int, int] = (64, 64), format: str = "utkface",
    progress: bool = False,
) -> Path:
    """Write ``n_images`` faces to ``root`` in ``format`` ("utkface" or "csv"), ``size`` =
    (height, width); ``progress`` shows a bar. Same arguments, same bytes."""
    if format not in formats_of("agegender"):
        raise ValueError(f"format must be one of {formats_of('agegender')}, got {format!r}")
    if n_images < 2:
        raise ValueError(f"n_images must be >= 2 (a training and a validation image), got {n_images}")
    root = Path(root).expanduser()
    folder = root / "images" if format == "csv" else root
    folder.mkdir(parents=True, exist_ok=True)
    rows = [["fname", "age", "gender"]]
    for i in tqdm(range(n_images), desc="agegender demo set", unit="img", disable=not progress):
        rng = np.random.default_rng([seed, i])
        age, gender, race = int(rng.integers(AGES[0], AGES[1] + 1)), int(rng.integers(2)), int(rng.integers(5))
        date = f"20170{i:06d}{int(rng.integers(10**6)):06d}"  # 17 digits as in the real names, unique
        fname = f"{i + 1:05d}.jpg" if format == "csv" else f"{age}_{gender}_{race}_{date}.jpg.chip.jpg"
        save(face(rng, size, age, gender, race), folder / fname)
        rows.append([fname, str(age), GENDERS[gender]])
    if format == "csv":
        with open(root / "labels.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
    return root
