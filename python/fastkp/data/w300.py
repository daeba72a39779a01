"""300W / 300-VW / iBUG reader: 68-point faces in ``.pts`` files, each beside its image.

A ``.pts`` file is ``version: 1`` (or ``1.0``, as 300-VW writes it), ``n_points: 68``,
``{``, 68 lines ``x y``, ``}``; LF or CRLF line ends, blank lines and trailing
whitespace anywhere. Its image has the same stem and a ``.jpg``, ``.jpeg`` or ``.png``
suffix (any case) in the same folder, or, for a ``.pts`` in an ``annot/`` folder (300-VW's
``VIDEO/annot/FRAME.pts``), in the sibling ``VIDEO/imgs/``. ``ROOT`` is searched
recursively (links to folders are not followed; hidden names are skipped).

Split: ``ROOT/valid/`` if it exists; else ``valid_frac`` of the units drawn as
``load_landmarks`` draws rows, a unit being a whole video (the faces of one
``VIDEO/annot/`` folder, so no video is on both sides) or one face outside any video.

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
from .splits import Entry, check_valid_frac, random_rule, split
from .textio import decode, parse_floats, read_bounded

N_POINTS = 68
PTS_SHIFT = -0.5  # 1-based pixel centres -> fastkp's i + 0.5
PTS_LIMIT = 1 << 20  # bytes; a 68-point file is about 1 KiB
VALID = "valid"
ANNOT, IMGS = "annot", "imgs"  # 300-VW: VIDEO/annot/FRAME.pts, VIDEO/imgs/FRAME.jpg
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
_VERSION = r"1(?:\.0+)?"  # iBUG's tools write 1 (300W, menpo), 300-VW 1.0
_FAST = re.compile(
    rf"\s*version:[ \t]*{_VERSION}[ \t]*\r?\n\s*n_points:[ \t]*(\d{{1,6}})[ \t]*\r?\n\s*\{{[ \t]*\r?\n"
    rf"((?:[ \t]*(?:{_TOKEN}[ \t]+{_TOKEN}[ \t]*)?\r?\n)*)[ \t]*\}}\s*",
    re.ASCII,
)  # the plain layout every tool writes; anything else takes parse_pts's line-by-line path
_VERSION_ONLY = re.compile(_VERSION, re.ASCII)


def _key_value(line: str, key: str, where: str) -> str:
    name, colon, value = line.partition(":")
    if not colon or name.strip() != key:
        raise DatasetError(f"{where}: expected '{key}: ...', got {line.strip()[:40]!r}")
    return value.strip()


def parse_pts(text: str, where: str) -> np.ndarray:
    """(n, 2) float64 points of a ``.pts`` text as written (1-based); blank lines are allowed
    anywhere, errors name the line."""
    points = _parse_fast(text)
    return _parse_lines(text, where) if points is None else points


def _parse_fast(text: str) -> np.ndarray | None:
    """The points of a file in the plain layout, or None: ``_parse_lines`` then decides, and
    gives the same points where this gives any (a test holds the two to that)."""
    if (m := _FAST.fullmatch(text)) and 0 < int(m[1]) <= 100_000:
        try:  # only digits, '.', 'e', signs: float() accepts exactly the plain decimals
            values = np.array(m[2].split(), np.float64)
        except ValueError:
            return None
        if len(values) == 2 * int(m[1]) and np.isfinite(values).all():
            return values.reshape(-1, 2)
    return None


def _parse_lines(text: str, where: str) -> np.ndarray:
    """``parse_pts`` line by line: any layout, errors naming the line."""
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) < 3:
        raise DatasetError(f"{where}: too short for a .pts file (version, n_points, {{ points }})")
    (n1, version), (n2, count), (n3, brace) = lines[:3]
    if not _VERSION_ONLY.fullmatch(_key_value(version, "version", f"{where}: line {n1}")):
        raise DatasetError(f"{where}: line {n1}: only 'version: 1' (or 1.0) is known, got {version[:40]!r}")
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


def _by_stem(names: list[str]) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """The image names of a folder listing by stem, and its (.pts name, stem)s."""
    images: dict[str, list[str]] = {}
    faces = []
    for name in names:
        if name.startswith("."):
            continue
        stem, suffix = os.path.splitext(name)
        suffix = suffix.lower()
        if suffix == ".pts":
            faces.append((name, stem))
        elif suffix in IMAGE_SUFFIXES:
            images.setdefault(stem, []).append(name)
    return images, faces


def _frames(video: str) -> dict[str, list[str]]:
    """The images of 300-VW's ``VIDEO/imgs/`` by stem; none when it cannot be listed (the
    walk reports an unreadable one, and each .pts then says where it looked)."""
    try:
        return _by_stem(os.listdir(os.path.join(video, IMGS)))[0]
    except OSError:
        return {}


def _pairs(root: Path, skipper: Skipper) -> list[tuple[str, str | None, str, str | None]]:
    """(pts file, its image or None, why none, its video folder or None) under ``root`` in
    sorted walk order; a .pts in an ``annot/`` folder below ``root`` belongs to a video."""
    pairs = []
    top = str(root)

    def unreadable(err: OSError) -> None:
        skipper.bad(DatasetError(f"{err.filename}: cannot list the folder ({err.strerror})"))

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        images, faces = _by_stem(files)
        video = os.path.dirname(folder) if os.path.basename(folder) == ANNOT and folder != top else None
        frames = None  # VIDEO/imgs/, listed when a .pts has no image beside it
        for name, stem in sorted(faces):
            found, where = sorted(images.get(stem, [])), folder
            if not found and video is not None:
                frames = _frames(video) if frames is None else frames
                found, where = sorted(frames.get(stem, [])), os.path.join(video, IMGS)
            if len(found) == 1:
                pairs.append((os.path.join(folder, name), os.path.join(where, found[0]), "", video))
                continue
            if found:
                why = f"several images: {found}" if where == folder else f"several images in {where}: {found}"
            else:
                why = f"no image {stem}{{.jpg,.jpeg,.png}} beside it"
                why += "" if video is None else f" or in {os.path.join(video, IMGS)}"
            pairs.append((os.path.join(folder, name), None, why, video))
    return pairs


def _record(pts: str, image: str, max_pixels: int | None) -> tuple:
    """The ``keypoint_samples`` record of one face."""
    points = parse_pts(decode(read_bounded(pts, ".pts file", PTS_LIMIT), pts), pts)
    if len(points) != N_POINTS:
        raise DatasetError(f"{pts}: n_points is {len(points)}, the 300W mark-up has {N_POINTS}")
    size = read_header(image, max_pixels).size
    return image, size, points + PTS_SHIFT, _VISIBLE, f"{pts} ({os.path.basename(image)})"


def _random_split(samples: list[Sample], video_of: dict[str, str], valid_frac: float, seed: int,
                  source: str) -> tuple[list[Sample], list[Sample], str]:
    """(train, valid, rule): ``valid_frac`` of the units drawn as ``splits.split`` draws
    samples, a unit being a whole video (frames of one video are near copies: one on each
    side would flatter validation) or one face outside any video."""
    units: dict[str, list[Sample]] = {}  # first-seen order: the samples keep their walk order
    for s in samples:
        units.setdefault(video_of.get(s.path, s.path), []).append(s)
    n_videos = len(set(video_of.values()).intersection(units))
    unit = "faces" if not n_videos else "videos" if n_videos == len(units) else "videos and faces"
    entries = [Entry(key, faces[0].size, faces, source) for key, faces in units.items()]
    train, valid = split(entries, valid_frac, seed, source, unit)
    rule = random_rule(valid_frac, seed, unit.replace("videos", "videos (VIDEO/annot/ folders)"))
    return [s for e in train for s in e.target], [s for e in valid for s in e.target], rule


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
    video_of = {image: video for _, image, _, video in pairs if video is not None}
    for pts, image, why, _ in pairs:
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
        in_valid = by_folder and sample.path.startswith(valid_prefix)  # the image is in valid/ with its .pts
        (valid if in_valid else train).append(sample)
    skipper.report()
    if not by_folder:
        train, valid, rule = _random_split(train, video_of, valid_frac, seed, str(root))
    elif not train or not valid:
        side = "training (outside valid/)" if not train else f"validation ({valid_dir})"
        raise DatasetError(f"{root}: empty {side} split")
    else:
        rule = f"ROOT/{VALID}/ folder"
    meta = DatasetMeta("300w", rule, point_names=NAMES_68, flip_index=FLIP_68, boxes="points")
    return Dataset(train, valid, meta)


register(Format("300w", "keypoints", lambda root, o: load_300w(root, o.valid_frac, o.seed, o.on_error, o.max_pixels),
                crop_boxes=True, description="iBUG 300W / 300-VW: 68-point .pts files beside their images or in"
                " VIDEO/imgs/; valid/ if present, else at random by video"))
