"""COCO keypoints reader: ``person_keypoints_*.json`` as COCO 2017 ships it.

Layout: ``ROOT/annotations/person_keypoints_train*.json`` and ``..._val*.json``
(exactly one of each); the images of ``person_keypoints_train2017.json`` are in
``ROOT/train2017/`` (the file name after the prefix), likewise for val. The val
file is the validation split. Without a train file (COCO's val set alone, what people
evaluate on) the training split is empty: such a folder is for evaluation only.

One sample per annotation of the category that has ``keypoints`` names; crowd
annotations (``iscrowd`` 1), annotations with ``num_keypoints`` 0 and annotations of
categories without keypoints are not samples. ``keypoints`` = ``[x1, y1, v1, ...]``
with v 0 (unlabelled: NaN), 1 (labelled, occluded) or 2 (visible); ``bbox`` =
``[x, y, w, h]`` becomes the box (x, y, x + w, y + h). COCO keypoints are pixel
indices (a pixel's centre at its integer index, as detectron2 reads them), so
``COCO_SHIFT`` (+0.5) is added to put centres at ``i + 0.5``; the box is in
continuous coordinates already. The flip permutation pairs ``left_*`` with
``right_*`` names. ``area`` (the segment's area, what COCO's OKS scales by) becomes
``Sample.area``: a positive number, else the annotation is bad; where it is missing
(pycocotools would refuse the file) the box's w * h stands in, with a warning, as it
reads OKS higher. ``Sample.source`` keeps the annotation file, ``id``, ``image_id`` and
``category_id`` (for COCO results files, ``fastkp.coco_results``). A category of 17
points is COCO's person: its samples carry COCO's OKS sigmas.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetMeta
from .flips import flip_from_names, read_flip_file
from .formats import Format, register
from .keypoint_samples import Headers, keypoint_sample
from .on_error import Skipper, log
from .paths import image_name, scan
from .sample import DatasetError, Sample
from .textio import all_numbers, load_json, read_bounded

ANNOTATIONS = "annotations"
PREFIX = "person_keypoints_"
COCO_SHIFT = 0.5  # pixel indices -> fastkp's centre at i + 0.5
# Per-keypoint OKS sigmas of the 17 COCO person keypoints (nose, eyes, ears, shoulders,
# elbows, wrists, hips, knees, ankles), as pycocotools gives them.
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
                        1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0  # fmt: skip


@dataclass
class Record:
    """One usable annotation: where it is, its image's file name and size from the JSON
    (None when not given), points (K, 2) in fastkp pixels, visibility (K,), box (4,), area
    and ids (``Sample.area``, ``Sample.source``)."""

    where: str
    file_name: str
    json_size: tuple[int, int] | None
    points: np.ndarray
    visibility: np.ndarray
    box: np.ndarray
    area: float
    source: dict


def _int(value: object) -> bool:
    return type(value) is int


def _list(spec: dict, key: str, where: str) -> list:
    value = spec.get(key)
    if not isinstance(value, list):
        raise DatasetError(f"{where}: field {key!r} must be a list, got {type(value).__name__}")
    return value


def _keypoint_names(categories: list, where: str) -> tuple[int, list[str], set[int]]:
    """(id, names) of the one category with keypoints, and the ids of the others."""
    with_points, others = [], set()
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or not _int(cat.get("id")):
            raise DatasetError(f"{where}: categories[{i}] must be an object with an integer id")
        (with_points if cat.get("keypoints") else others).append(cat)
    if len(with_points) != 1:
        raise DatasetError(f"{where}: expected one category with keypoints, found {len(with_points)}")
    cat = with_points[0]
    names = cat["keypoints"]
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise DatasetError(f"{where}: category {cat['id']}: keypoints must be a list of names")
    return cat["id"], names, {c["id"] for c in others}


def _images(images: list, where: str, skipper: Skipper) -> dict[int, object]:
    """Image entries by id; None for an id given twice (its annotations are bad). ``_image``
    replaces an entry by its checked (file name, size) or its problem."""
    table: dict[int, object] = {}
    for i, image in enumerate(images):
        if not isinstance(image, dict) or not _int(image.get("id")):
            skipper.bad(DatasetError(f"{where}: images[{i}] must be an object with an integer id"))
            continue
        table[image["id"]] = None if image["id"] in table else image
    return table


def _image(table: dict, image_id: object, where: str) -> tuple[str, tuple[int, int] | None]:
    """File name (checked to stay inside the image folder) and (height, width) if given;
    the error names the annotation ``where``."""
    if not _int(image_id) or image_id not in table:
        raise DatasetError(f"{where}: image_id {image_id!r} is not among the images")
    image = table[image_id]
    if image is None:
        raise DatasetError(f"{where}: image id {image_id} is given twice in images")
    if isinstance(image, str):  # its problem, found for an earlier annotation
        raise DatasetError(f"{where}: {image}")
    if isinstance(image, tuple):
        return image
    try:
        name = image.get("file_name")
        if not isinstance(name, str):
            raise DatasetError(f"image id {image_id}: file_name must be a string")
        name = image_name(name, f"image id {image_id}")
        h, w = image.get("height"), image.get("width")
        if (h is not None or w is not None) and not (_int(h) and _int(w) and h > 0 and w > 0):
            raise DatasetError(f"image id {image_id}: height and width must be positive integers")
    except DatasetError as err:
        table[image_id] = str(err)
        raise DatasetError(f"{where}: {err}") from None
    table[image_id] = (name, None if h is None and w is None else (h, w))
    return table[image_id]


def _in_range(values: list, where: str) -> np.ndarray:
    """float64 of JSON numbers that fit the float32 the models take (the keypoints, the box's
    corners, the area), else a DatasetError naming ``where``."""
    with np.errstate(over="ignore"):
        try:
            array = np.array(values, np.float64)
        except OverflowError:  # an int beyond float64
            array = np.array([np.inf])
        if not np.isfinite(array.astype(np.float32)).all():
            raise DatasetError(f"{where}: a value is out of range")
    return array


def _record(ann: dict, k: int, table: dict, where: str, source: dict) -> Record:
    values = ann.get("keypoints")
    if not isinstance(values, list) or len(values) != 3 * k or not all_numbers(values):
        raise DatasetError(f"{where}: keypoints must be a list of {3 * k} numbers (x, y, v per point)")
    kp = _in_range(values, f"{where}: keypoints").reshape(k, 3)
    v = kp[:, 2]
    bad = (v != 0) & (v != 1) & (v != 2)
    if bad.any():
        i = int(np.argmax(bad))
        raise DatasetError(f"{where}: keypoint {i}: visibility {values[3 * i + 2]!r} is not 0, 1 or 2")
    n = ann.get("num_keypoints")
    if int((v > 0).sum()) != n:
        raise DatasetError(f"{where}: num_keypoints is {n!r} but {int((v > 0).sum())} points have v > 0")
    bbox = ann.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4 or not all_numbers(bbox):
        raise DatasetError(f"{where}: bbox must be a list of 4 numbers [x, y, w, h]")
    x, y, bw, bh = _in_range(bbox, f"{where}: bbox {bbox}")
    if bw <= 0 or bh <= 0:
        raise DatasetError(f"{where}: bbox {bbox} must be finite with width and height > 0")
    box = _in_range([x, y, x + bw, y + bh], f"{where}: bbox {bbox}")
    area = ann.get("area")
    if area is not None and (not all_numbers([area]) or not area > 0):
        raise DatasetError(f"{where}: area {area!r} must be a positive number (the segment's area in pixels)")
    (area,) = _in_range([bw * bh if area is None else area], f"{where}: area")
    file_name, size = _image(table, ann.get("image_id"), where)
    return Record(where, file_name, size, kp[:, :2] + COCO_SHIFT, v.astype(np.int8), box, float(area),
                  {**source, "image_id": ann["image_id"]})


def parse_coco(data: bytes | str, where: str, skipper: Skipper) -> tuple[list[str], list[Record]]:
    """Keypoint names and the usable annotations of a COCO keypoints JSON; a bad annotation
    goes to ``skipper`` naming its id, a bad file structure raises."""
    spec = load_json(data, where)
    if not isinstance(spec, dict):
        raise DatasetError(f"{where}: expected a JSON object with images, annotations and categories")
    cat_id, names, other_cats = _keypoint_names(_list(spec, "categories", where), where)
    k = len(names)
    table = _images(_list(spec, "images", where), where, skipper)
    records: list[Record] = []
    seen: set[int] = set()
    no_area: list[int] = []
    for i, ann in enumerate(_list(spec, "annotations", where)):
        try:
            if not isinstance(ann, dict) or not _int(ann.get("id")):
                raise DatasetError(f"{where}: annotations[{i}] must be an object with an integer id")
            at = f"{where}: annotation id {ann['id']}"
            if ann["id"] in seen:
                raise DatasetError(f"{at}: the id is given twice")
            seen.add(ann["id"])
            crowd, n, cat = ann.get("iscrowd", 0), ann.get("num_keypoints"), ann.get("category_id")
            if not _int(crowd) or crowd not in (0, 1):
                raise DatasetError(f"{at}: iscrowd must be 0 or 1, got {crowd!r}")
            if not _int(cat) or (cat != cat_id and cat not in other_cats):
                raise DatasetError(f"{at}: category_id {cat!r} is not a category")
            if cat != cat_id or crowd:
                continue  # not a keypoint annotation, or a crowd: not a sample
            if not _int(n) or n < 0 or n > k:
                raise DatasetError(f"{at}: num_keypoints must be an integer in 0..{k}, got {n!r}")
            if n == 0:
                continue
            records.append(_record(ann, k, table, at, {"file": where, "id": ann["id"], "category_id": cat}))
            if ann.get("area") is None:
                no_area.append(ann["id"])
        except DatasetError as err:
            skipper.bad(err)
    if no_area:
        log.warning("%s: %d annotation(s) without area (first: id %d): OKS takes their box's w * h, which scores "
                    "higher than COCO's segment area", where, len(no_area), no_area[0])
    return list(names), records


def _annotation_file(root: Path, split: str) -> Path | None:
    """The one annotation file of ``split``; None where a train file is missing (a val-only folder)."""
    folder = root / ANNOTATIONS
    names, bad = scan(folder, lambda n: n.startswith(PREFIX + split) and n.endswith(".json"), "file")
    if bad:
        raise bad[0]
    if not names and split == "train":
        return None
    if len(names) != 1:
        found = f"several: {names}" if names else "none"
        raise DatasetError(f"{folder}: expected one {PREFIX}{split}*.json, found {found}")
    return folder / names[0]


def _samples(records: list[Record], image_dir: Path, headers: Headers, skipper: Skipper) -> list[Sample]:
    samples = []
    folder = str(image_dir)
    for r in records:
        try:
            image = os.path.join(folder, r.file_name)
            try:
                size = headers.size(image)
            except DatasetError as err:  # it names the image; add the annotation
                raise DatasetError(f"{r.where}: {err}") from None
            if r.json_size is not None and r.json_size != size:
                raise DatasetError(f"{r.where}: {r.file_name} is {size[1]}x{size[0]}, the JSON says "
                                   f"{r.json_size[1]}x{r.json_size[0]}")
            samples.append(keypoint_sample(image, size, r.points, r.visibility, r.box, f"{r.where} ({r.file_name})",
                                           r.area, r.source))
        except DatasetError as err:
            skipper.bad(err)
    return samples


def load_coco(root: str | Path, on_error: str = "raise", max_pixels: int | None = None,
              flip_json: str | Path | None = None) -> Dataset:
    """Read a COCO keypoints tree, the samples in annotation order; the val file is the
    validation split (the training split is empty without a train file). The flip pairs
    come from the point names, or from ``flip_json`` where given."""
    skipper = Skipper(on_error, f"load_coco({root})")
    root = Path(root).expanduser()
    splits, names = {"train": []}, {}
    headers = Headers(max_pixels)
    for split in ("train", "val"):
        path = _annotation_file(root, split)
        if path is None:
            continue
        image_dir = root / path.name[len(PREFIX) : -len(".json")]
        if not image_dir.is_dir():
            raise DatasetError(f"{image_dir}: missing image folder of {path.name}")
        names[split], records = parse_coco(read_bounded(path, "annotation file"), str(path), skipper)
        splits[split] = _samples(records, image_dir, headers, skipper)
    skipper.report()
    if names.get("train", names["val"]) != names["val"]:
        raise DatasetError(f"{root / ANNOTATIONS}: the train and val files name different keypoints: "
                           f"{names['train']} vs {names['val']}")
    for split, side in (("train", "training"), ("val", "validation")):
        if split in names and not splits[split]:
            raise DatasetError(f"{root}: empty {side} split (no usable annotation)")
    flip = (read_flip_file(Path(flip_json).expanduser(), names["val"]) if flip_json is not None
            else flip_from_names(names["val"], f"{root / ANNOTATIONS}: keypoint names"))
    person = len(names["val"]) == len(COCO_SIGMAS)
    only_val = "" if "train" in names else f", only val (no {PREFIX}train*.json: evaluation only)"
    # image_dir: the loop ended on the val file
    meta = DatasetMeta("coco", f"the {image_dir.name} annotation file{only_val}", point_names=tuple(names["val"]),
                       flip_index=tuple(flip.tolist()), sigmas=tuple(COCO_SIGMAS.tolist()) if person else None,
                       boxes="annotation")
    return Dataset(splits["train"], splits["val"], meta)


register(Format("coco", "keypoints", lambda root, o: load_coco(root, o.on_error, o.max_pixels, o.flip_json),
                crop_boxes=True,
                description="COCO keypoints: annotations/person_keypoints_{train,val}*.json, {train,val}*/"))
