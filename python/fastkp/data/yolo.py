"""YOLO-pose reader: an Ultralytics dataset YAML and one label file per image.

``data.yaml`` (read with ``yaml.safe_load``): ``train`` and ``val`` (a folder of
images searched recursively, a ``.txt`` list of image paths, or a list of those),
``kpt_shape`` ``[K, 2 or 3]``, ``flip_idx`` (K ints, a permutation that is its own
inverse), ``names`` (class names, a list or ``{id: name}``), optionally ``path`` (the
dataset root) and ``kpt_names`` (K point names, or ``{class: names}`` for one class).
``path`` is taken relative to the YAML's folder and ``train``/``val`` relative to it;
none may leave the YAML's folder tree.

Labels are found as YOLO finds them: ``.../images/.../x.jpg`` -> ``.../labels/.../x.txt``
(the last ``images`` folder below the root; without one, beside the image). An image
without a label file has no objects. Each line ``class cx cy w h x1 y1 [v1] ...`` is one
object, one sample: values normalised by the image's width and height (corner at 0,
which is fastkp's convention; no shift), v 0 (unlabelled: NaN), 1 (occluded) or 2
(visible); with ``kpt_shape [K, 2]`` every point is visible. The box is
(cx - w/2, cy - h/2, cx + w/2, cy + h/2) in pixels. YOLO labels have no segment area:
``Sample.area`` (what OKS scales by) is Ultralytics' rule for its pose metrics,
``AREA_OF_BOX`` (0.53) * w * h of the box in pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetMeta
from .flips import check_flip
from .formats import Format, register
from .keypoint_samples import Headers, keypoint_sample
from .on_error import Skipper
from .paths import IMAGE_SUFFIXES, inside
from .sample import DatasetError, Sample
from .textio import bulk_floats, decode, load_yaml, parse_floats, read_bounded

YAML_LIMIT = 1 << 20  # bytes of a dataset YAML
LABEL_LIMIT = 64 << 20  # bytes of one label file or image list
OTHER_IMAGES = (".bmp", ".dng", ".mpo", ".tif", ".tiff", ".webp", ".pfm", ".heic")  # YOLO's, not fastkp's
BOX_RANGE = (-0.5, 1.5)  # a normalised box centre outside this is not normalised
AREA_OF_BOX = 0.53  # an object's OKS area: this share of its box's w * h (ultralytics' pose validator)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _class_names(names: object, where: str) -> list[str]:
    if isinstance(names, dict) and names and all(type(i) is int for i in names):
        if sorted(names) != list(range(len(names))):
            raise DatasetError(f"{where}: names must be numbered 0..{len(names) - 1}, got {sorted(names)}")
        names = [names[i] for i in range(len(names))]
    if not _strings(names) or not names:
        raise DatasetError(f"{where}: names must be a non-empty list of class names or {{id: name}}")
    return names


def _point_names(spec: dict, k: int, where: str) -> list[str]:
    names = spec.get("kpt_names")
    if names is None:
        return [f"kpt_{i}" for i in range(k)]
    if isinstance(names, dict) and len(names) == 1:
        names = next(iter(names.values()))
    if not _strings(names) or len(names) != k:
        raise DatasetError(f"{where}: kpt_names must list {k} point names (or {{class: names}} for one class)")
    return list(names)


def parse_data_yaml(text: str, where: str) -> dict:
    """The checked YAML: ``k``, ``ndim``, ``flip_index``, ``classes``, ``names`` (points),
    ``path`` (str or None), ``train`` and ``val`` (lists of str)."""
    spec = load_yaml(text, where)
    if not isinstance(spec, dict):
        raise DatasetError(f"{where}: expected a mapping with train, val, kpt_shape, flip_idx and names")
    shape = spec.get("kpt_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(type(v) is int for v in shape)
            and 1 <= shape[0] <= 10_000 and shape[1] in (2, 3)):
        raise DatasetError(f"{where}: kpt_shape must be [K, 2] or [K, 3] with K >= 1, got {shape!r}")
    k, ndim = shape
    if "flip_idx" not in spec:
        raise DatasetError(f"{where}: missing flip_idx (each point's mirror; list 0..{k - 1} if none has a side)")
    flip = check_flip(spec["flip_idx"], k, f"{where}: flip_idx")
    out = {"k": k, "ndim": ndim, "flip_index": flip, "classes": _class_names(spec.get("names"), where),
           "names": _point_names(spec, k, where)}
    path = spec.get("path")
    if path is not None and not (isinstance(path, str) and path.strip()):
        raise DatasetError(f"{where}: path must be a folder name, got {path!r}")
    out["path"] = path
    for split in ("train", "val"):
        value = spec.get(split)
        value = [value] if isinstance(value, str) else value
        if not _strings(value) or not value or not all(v.strip() for v in value):
            raise DatasetError(f"{where}: {split} must be a folder or list file (or a list of them), got "
                               f"{spec.get(split)!r}")
        out[split] = value
    return out


def parse_labels(
    text: str, where: str, k: int, ndim: int, n_classes: int, skipper: Skipper
) -> list[tuple[str, np.ndarray]]:
    """One (where, values) per usable object line: values = [cx, cy, w, h, x1, y1, v1, ...]
    with v 2 filled in for ``ndim`` 2; a bad line goes to ``skipper`` naming it."""
    lines = [(n, fields) for n, fields in enumerate(map(str.split, text.splitlines()), 1) if fields]
    if (bulk := _bulk(lines, k, ndim, n_classes)) is not None:
        return [(f"{where}: line {n}", values) for (n, _), values in zip(lines, bulk)]
    objects = []
    for n, fields in lines:
        at = f"{where}: line {n}"
        try:
            objects.append((at, _object(fields, at, k, ndim, n_classes)))
        except DatasetError as err:
            skipper.bad(err)
    return objects


def _bulk(lines: list[tuple[int, list[str]]], k: int, ndim: int, n_classes: int) -> np.ndarray | None:
    """Every line at once when all are good (the usual case), else None: then ``_object``
    reads them one by one and names the bad ones."""
    width = 5 + k * ndim
    if not lines or any(len(fields) != width for _, fields in lines):
        return None
    values = bulk_floats([t for _, fields in lines for t in fields])
    if values is None:
        return None
    values = values.reshape(len(lines), width)
    cls, (cx, cy, w, h) = values[:, 0], values[:, 1:5].T
    lo, hi = BOX_RANGE
    good = np.isfinite(values).all(axis=1) & (cls == np.round(cls)) & (cls >= 0) & (cls < n_classes)
    good &= (cx >= lo) & (cx <= hi) & (cy >= lo) & (cy <= hi) & (w > 0) & (w <= 2) & (h > 0) & (h <= 2)
    points = values[:, 5:].reshape(len(lines), k, ndim)
    if ndim == 3:
        v = points[:, :, 2]
        good &= ((v == 0) | (v == 1) | (v == 2)).all(axis=1)
    else:
        points = np.concatenate([points, np.full((len(lines), k, 1), 2.0)], axis=2)
    if not good.all():
        return None
    return np.concatenate([values[:, 1:5], points.reshape(len(lines), -1)], axis=1)


def _object(fields: list[str], at: str, k: int, ndim: int, n_classes: int) -> np.ndarray:
    """[cx, cy, w, h, x1, y1, v1, ...] of one label line, checked."""
    width = 5 + k * ndim
    if len(fields) != width:
        raise DatasetError(f"{at}: {len(fields)} values, expected {width} (class cx cy w h + {k} x {ndim})")
    values = parse_floats(fields, lambda i: f"{at}: value {i + 1}")
    cls = values[0]
    if not (cls.is_integer() and 0 <= cls < n_classes):
        raise DatasetError(f"{at}: class {fields[0]!r} is not one of 0..{n_classes - 1}")
    cx, cy, w, h = values[1:5]
    lo, hi = BOX_RANGE
    if not (lo <= cx <= hi and lo <= cy <= hi and 0 < w <= 2 and 0 < h <= 2):
        raise DatasetError(f"{at}: box {' '.join(fields[1:5])} is not normalised (centre in 0..1, size > 0)")
    points = values[5:].reshape(k, ndim)
    if ndim == 3:
        bad = (points[:, 2] != 0) & (points[:, 2] != 1) & (points[:, 2] != 2)
        if bad.any():
            i = int(np.argmax(bad))
            raise DatasetError(f"{at}: keypoint {i}: visibility {fields[5 + 3 * i + 2]!r} is not 0, 1 or 2")
    else:
        points = np.concatenate([points, np.full((k, 1), 2.0)], axis=1)
    return np.concatenate([values[1:5], points.ravel()])


def label_path(root: Path, image: Path) -> Path:
    """``images/.../x.jpg`` -> ``labels/.../x.txt`` (the last ``images`` folder below ``root``)."""
    rel = "/" + Path(os.path.relpath(image, root)).as_posix()
    head, sep, tail = rel.rpartition("/images/")
    rel = f"{head}/labels/{tail}" if sep else rel
    return root / (os.path.splitext(rel[1:])[0] + ".txt")


def _images(root: Path, entry: str, where: str, skipper: Skipper) -> list[Path]:
    """The images one ``train``/``val`` entry names, sorted."""
    target = root / entry.strip()
    if not inside(root, target):
        raise DatasetError(f"{where}: {entry!r} is outside the dataset folder {root}")
    if target.is_dir():
        found = []

        def unreadable(err: OSError) -> None:
            skipper.bad(DatasetError(f"{err.filename}: cannot list the folder ({err.strerror})"))

        for folder, dirs, files in os.walk(target, onerror=unreadable):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                suffix = os.path.splitext(name)[1].lower()
                if name.startswith("."):
                    continue
                if suffix in OTHER_IMAGES:
                    skipper.bad(DatasetError(f"{Path(folder, name)}: fastkp reads JPEG and PNG images only"))
                elif suffix in IMAGE_SUFFIXES:
                    found.append(Path(folder, name))
        return found
    if target.suffix == ".txt" and target.is_file():
        listed = []
        text = decode(read_bounded(target, "image list", LABEL_LIMIT), str(target))
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                path = target.parent / line.strip()
                if not inside(root, path):
                    raise DatasetError(f"{target}: line {n}: {line.strip()!r} is outside the dataset folder {root}")
                if path.is_file():
                    listed.append(path)
                else:
                    skipper.bad(DatasetError(f"{target}: line {n}: missing image {path}"))
        return listed
    raise DatasetError(f"{where}: {entry!r}: {target} is not a folder or a .txt list of images")


def _samples(root: Path, images: list[Path], spec: dict, headers: Headers, skipper: Skipper) -> list[Sample]:
    samples: list[Sample] = []
    for image in images:
        labels = label_path(root, image)
        try:
            text = decode(read_bounded(labels, "label file", LABEL_LIMIT), str(labels))
        except DatasetError as err:
            if not labels.exists() and not labels.is_symlink():
                continue  # no label file: an image without objects, as YOLO reads it
            skipper.bad(err)
            continue
        try:
            objects = parse_labels(text, str(labels), spec["k"], spec["ndim"], len(spec["classes"]), skipper)
            h, w = headers.size(image) if objects else (0, 0)
        except DatasetError as err:
            skipper.bad(err)
            continue
        scale = np.array([w, h], np.float64)
        for at, v in objects:
            try:
                (cx, cy), (bw, bh) = v[:2] * scale, v[2:4] * scale
                points = v[4:].reshape(-1, 3)
                box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
                samples.append(keypoint_sample(image, (h, w), points[:, :2] * scale, points[:, 2], box,
                                               f"{at} ({image.name})", area=float(AREA_OF_BOX * bw * bh)))
            except DatasetError as err:
                skipper.bad(err)
    return samples


def load_yolo_pose(data_yaml: str | Path, on_error: str = "raise", max_pixels: int | None = None) -> Dataset:
    """Read a YOLO-pose dataset from its YAML (samples in sorted image, then line order);
    its ``val`` images are the validation split."""
    skipper = Skipper(on_error, f"load_yolo_pose({data_yaml})")
    data_yaml = Path(data_yaml).expanduser()
    spec = parse_data_yaml(decode(read_bounded(data_yaml, "dataset YAML", YAML_LIMIT), str(data_yaml)),
                           str(data_yaml))
    base = data_yaml.parent
    root = base if spec["path"] is None else base / spec["path"].strip()
    if not inside(base, root):
        raise DatasetError(f"{data_yaml}: path {spec['path']!r} is outside the YAML's folder {base}")
    if not root.is_dir():
        raise DatasetError(f"{data_yaml}: path {root} is not a folder")
    headers = Headers(max_pixels)
    splits = {}
    for split in ("train", "val"):
        images = [p for entry in spec[split] for p in _images(root, entry, f"{data_yaml}: {split}", skipper)]
        splits[split] = _samples(root, images, spec, headers, skipper)
    skipper.report()
    for split, side in (("train", "training"), ("val", "validation")):
        if not splits[split]:
            raise DatasetError(f"{data_yaml}: empty {side} split (no usable object in {spec[split]})")
    meta = DatasetMeta("yolo", f"the val images of {data_yaml.name}", point_names=tuple(spec["names"]),
                       flip_index=tuple(spec["flip_index"].tolist()), boxes="annotation")
    return Dataset(splits["train"], splits["val"], meta)


register(Format("yolo", "keypoints", lambda root, o: load_yolo_pose(root, o.on_error, o.max_pixels), crop_boxes=True,
                description="Ultralytics YOLO-pose: data.yaml (train, val, kpt_shape, flip_idx), labels/*.txt"))
