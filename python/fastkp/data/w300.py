"""300W / iBUG reader: 68-point faces in ``.pts`` files, each beside its image.

A ``.pts`` file is ``version: 1``, ``n_points: 68``, ``{``, 68 lines ``x y``, ``}``.
Its image has the same stem and a ``.jpg``, ``.jpeg`` or ``.png`` suffix (any case)
in the same folder. ``ROOT`` is searched recursively (links to folders are not
followed; hidden names are skipped); ``ROOT/valid/`` is the validation split if it
exists, else ``valid_frac`` of the faces drawn as ``load_landmarks`` draws them.

Coordinates: ``.pts`` files are 1-based (the first pixel's centre is at 1, as menpo
reads them); fastkp puts a pixel's centre at ``i + 0.5``, so ``PTS_SHIFT`` (-0.5) is
added. Every point is labelled and visible (visibility 2); the box is the points' box
enlarged by ``keypoint_samples.MARGIN`` per side (``points_box``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetMeta
from .formats import Format, register
from .images import read_header
from .keypoint_samples import keypoint_samples
from .on_error import Skipper
from .paths import IMAGE_SUFFIXES
from .sample import DatasetError, Sample
from .splits import check_valid_frac, random_rule, random_split
from .textio import decode, parse_floats, read_bounded

N_POINTS = 68
PTS_SHIFT = -0.5  # 1-based pixel centres -> fastkp's i + 0.5
PTS_LIMIT = 1 << 20  # bytes; a 68-point file is about 1 KiB
VALID = "valid"
_VISIBLE = np.full(N_POINTS, 2, np.int8)  # every point is labelled and visible

# The iBUG 68-point mark-up, named as seen in the image: left_* is on the image's left
# (the subject's right), so 36 is the outer corner of the eye on the image's left.
NAMES_68 = (
    *(f"left_jaw_{i}" for i in range(8)), "chin", *(f"right_jaw_{7 - i}" for i in range(8)),
    *(f"left_brow_{i}" for i in range(5)), *(f"right_brow_{4 - i}" for i in range(5)),
    "nose_bridge_0", "nose_bridge_1", "nose_bridge_2", "nose_tip",
    "left_nostril_0", "left_nostril_1", "nose_bottom", "right_nostril_1", "right_nostril_0",
    "left_eye_outer", "left_eye_top_outer", "left_eye_top_inner",
    "left_eye_inner", "left_eye_bottom_inner", "left_eye_bottom_outer",
    "right_eye_inner", "right_eye_top_inner", "right_eye_top_outer",
    "right_eye_outer", "right_eye_bottom_outer", "right_eye_bottom_inner",
    "left_mouth_corner", "left_lip_top_0", "left_lip_top_1", "lip_top",
    "right_lip_top_1", "right_lip_top_0", "right_mouth_corner",
    "right_lip_bottom_0", "right_lip_bottom_1", "lip_bottom", "left_lip_bottom_1", "left_lip_bottom_0",
    "left_mouth_inner", "left_lip_inner_top", "lip_inner_top", "right_lip_inner_top",
    "right_mouth_inner", "right_lip_inner_bottom", "lip_inner_bottom", "left_lip_inner_bottom",
)  # fmt: skip

# Point i becomes FLIP_68[i] under a horizontal flip (the standard 300W pairs).
FLIP_68 = (
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,  # jaw
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,  # brows
    27, 28, 29, 30,  # nose bridge
    35, 34, 33, 32, 31,  # nostrils
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,  # eyes
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lips
    64, 63, 62, 61, 60, 67, 66, 65,  # inner lips
)  # fmt: skip


_TOKEN = r"[0-9.eE+-]+"  # what a decimal number can be made of; float() then checks its form
_FAST = re.compile(
    rf"\s*version:[ \t]*1[ \t]*\r?\n\s*n_points:[ \t]*(\d{{1,6}})[ \t]*\r?\n\s*\{{[ \t]*\r?\n"
    rf"((?:[ \t]*(?:{_TOKEN}[ \t]+{_TOKEN}[ \t]*)?\r?\n)*)[ \t]*\}}\s*",
    re.ASCII,
)  # the plain layout every tool writes; anything else takes parse_pts's line-by-line path


def _key_value(line: str, key: str, where: str) -> str:
    name, colon, value = line.partition(":")
    if not colon or name.strip() != key:
        raise DatasetError(f"{where}: expected '{key}: ...', got {line.strip()[:40]!r}")
    return value.strip()


def parse_pts(text: str, where: str) -> np.ndarray:
    """(n, 2) float64 points of a ``.pts`` text as written (1-based); blank lines are allowed
    anywhere, errors name the line."""
    if (m := _FAST.fullmatch(text)) and 0 < int(m[1]) <= 100_000:
        try:  # only digits, '.', 'e', signs: float() accepts exactly the plain decimals
            values = np.array(m[2].split(), np.float64)
        except ValueError:
            values = np.array([np.nan])
        if len(values) == 2 * int(m[1]) and np.isfinite(values).all():
            return values.reshape(-1, 2)
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) < 3:
        raise DatasetError(f"{where}: too short for a .pts file (version, n_points, {{ points }})")
    (n1, version), (n2, count), (n3, brace) = lines[:3]
    if _key_value(version, "version", f"{where}: line {n1}") != "1":
        raise DatasetError(f"{where}: line {n1}: only 'version: 1' is known, got {version[:40]!r}")
    value = _key_value(count, "n_points", f"{where}: line {n2}")
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= 100_000:
        raise DatasetError(f"{where}: line {n2}: n_points {value[:20]!r} is not a count of points")
    n = int(value)
    if brace != "{":
        raise DatasetError(f"{where}: line {n3}: expected '{{', got {brace[:40]!r}")
    body = lines[3:]
    close = next((i for i, (_, line) in enumerate(body) if line == "}"), None)
    if close is None:
        raise DatasetError(f"{where}: no closing '}}'")
    if close != n:
        raise DatasetError(f"{where}: line {n2}: n_points is {n} but {close} point lines follow")
    if close + 1 < len(body):
        raise DatasetError(f"{where}: line {body[close + 1][0]}: text after the closing '}}'")
    tokens: list[str] = []
    for line_no, line in body[:n]:
        fields = line.split()
        if len(fields) != 2:
            raise DatasetError(f"{where}: line {line_no}: expected 'x y', got {len(fields)} fields")
        tokens += fields
    return parse_floats(tokens, lambda i: f"{where}: line {body[i // 2][0]}: point {i // 2}").reshape(n, 2)


def _pairs(root: Path, skipper: Skipper) -> list[tuple[str, str | None, str]]:
    """(pts file, its image or None, why none) under ``root`` in sorted walk order."""
    pairs = []

    def unreadable(err: OSError) -> None:
        skipper.bad(DatasetError(f"{err.filename}: cannot list the folder ({err.strerror})"))

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        images: dict[str, list[str]] = {}
        faces = []
        for name in files:
            if name.startswith("."):
                continue
            stem, suffix = os.path.splitext(name)
            suffix = suffix.lower()
            if suffix == ".pts":
                faces.append((name, stem))
            elif suffix in IMAGE_SUFFIXES:
                images.setdefault(stem, []).append(name)
        for name, stem in sorted(faces):
            found = sorted(images.get(stem, []))
            why = "" if len(found) == 1 else (
                f"no image {stem}{{.jpg,.jpeg,.png}} beside it" if not found else f"several images: {found}")
            pairs.append((os.path.join(folder, name), os.path.join(folder, found[0]) if len(found) == 1 else None, why))
    return pairs


def _record(pts: str, image: str, max_pixels: int | None) -> tuple:
    """The ``keypoint_samples`` record of one face."""
    points = parse_pts(decode(read_bounded(pts, ".pts file", PTS_LIMIT), pts), pts)
    if len(points) != N_POINTS:
        raise DatasetError(f"{pts}: n_points is {len(points)}, the 300W mark-up has {N_POINTS}")
    size = read_header(image, max_pixels).size
    return image, size, points + PTS_SHIFT, _VISIBLE, f"{pts} ({os.path.basename(image)})"


def load_300w(root: str | Path, valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise",
              max_pixels: int | None = None) -> Dataset:
    """Read every image + ``.pts`` pair under ``root``, the samples in sorted path order,
    with the 68 point names and their flip pairs."""
    skipper = Skipper(on_error, f"load_300w({root})")
    check_valid_frac(valid_frac)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    valid_dir = root / VALID
    by_folder = valid_dir.is_dir()
    valid_prefix = os.path.join(root, VALID, "")
    pairs = _pairs(root, skipper)
    if not pairs:
        raise DatasetError(f"{root}: no .pts files found")
    records: list[tuple | DatasetError] = []
    for pts, image, why in pairs:
        try:
            if image is None:
                raise DatasetError(f"{pts}: {why}")
            records.append(_record(pts, image, max_pixels))
        except DatasetError as err:
            records.append(err)
            if not skipper.skip:
                break  # this error or an earlier record's is the one raised
    train: list[Sample] = []
    valid: list[Sample] = []
    for sample in keypoint_samples(records, skipper):
        in_valid = by_folder and sample.path.startswith(valid_prefix)  # the image is beside its .pts
        (valid if in_valid else train).append(sample)
    skipper.report()
    if not by_folder:
        if not train:
            raise DatasetError(f"{root}: no usable faces")
        train, valid = random_split(train, valid_frac, seed, str(root))
    elif not train or not valid:
        side = "training (outside valid/)" if not train else f"validation ({valid_dir})"
        raise DatasetError(f"{root}: empty {side} split")
    rule = f"ROOT/{VALID}/ folder" if by_folder else random_rule(valid_frac, seed, "faces")
    meta = DatasetMeta("300w", rule, point_names=NAMES_68, flip_index=FLIP_68, boxes="points")
    return Dataset(train, valid, meta)


register(Format("300w", "keypoints", lambda root, o: load_300w(root, o.valid_frac, o.seed, o.on_error, o.max_pixels),
                crop_boxes=True, description="iBUG 300W: 68-point .pts files beside their images; valid/ if present"))
