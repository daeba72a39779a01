"""Single-label class readers: a folder per class, or a ``fname,label`` CSV.

``folders`` (torchvision's ImageFolder layout): ``ROOT/train/CLASS/*.{jpg,jpeg,png}``
and ``ROOT/valid/CLASS/*`` or ``ROOT/val/CLASS/*`` (exactly one of the two); hidden
names are skipped, other files ignored; a class folder without images is bad input.

``csv``: ``ROOT/labels.csv`` with the columns ``fname,label`` and an optional
``is_valid`` (other columns are ignored); images in ``ROOT/images/``.

The vocabulary is the sorted set of training classes; ``Sample.label`` indexes it. A
class seen only in validation is bad input naming it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import UsageError
from .dataset import Dataset, DatasetMeta
from .formats import Format, ReadOptions, formats_of, get, register
from .images import read_header
from .labels_csv import Table
from .on_error import Skipper
from .paths import is_image_name, scan
from .sample import DatasetError, Sample
from .splits import Entry, check_valid_frac, split

VALID_FOLDERS = ("valid", "val")


def _vocabulary(
    train: list[Entry[str]], valid: list[Entry[str]], skipper: Skipper, source: str, meta: DatasetMeta
) -> Dataset:
    """Samples labelled by index into the sorted training classes, ``meta`` with that
    vocabulary; a validation entry of another class is bad input."""
    vocab = sorted({e.target for e in train})
    index = {name: i for i, name in enumerate(vocab)}
    for e in valid:
        if e.target not in index:
            skipper.bad(DatasetError(f"{e.where}: class {e.target!r} is only in the validation split"))
    skipper.report()
    valid = [e for e in valid if e.target in index]
    if not valid:
        raise DatasetError(f"{source}: empty validation split (no usable sample of a training class)")
    return Dataset([Sample(e.path, e.size, label=index[e.target]) for e in train],
                   [Sample(e.path, e.size, label=index[e.target]) for e in valid],
                   replace(meta, vocab=tuple(vocab)))


def _folder_entries(split_dir: Path, skipper: Skipper, max_pixels: int | None) -> list[Entry[str]]:
    """Entries of one split folder, the class being the sub-folder's name."""
    if not split_dir.is_dir():
        raise DatasetError(f"{split_dir}: missing folder of class folders")
    classes, bad = scan(split_dir, lambda n: not n.startswith("."), "dir")
    for err in bad:
        skipper.bad(err)
    if not classes:
        raise DatasetError(f"{split_dir}: no class folders")
    entries: list[Entry[str]] = []
    for name in classes:
        files, bad = scan(split_dir / name, is_image_name, "file")
        for err in bad:
            skipper.bad(err)
        if not files and not bad:
            skipper.bad(DatasetError(f"{split_dir / name}: empty class folder (no .jpg, .jpeg or .png file)"))
        for file in files:
            path = split_dir / name / file
            try:
                entries.append(Entry(str(path), read_header(path, max_pixels).size, name, str(path)))
            except DatasetError as err:
                skipper.bad(err)
    return entries


def load_class_folders(root: str | Path, on_error: str = "raise", max_pixels: int | None = None) -> Dataset:
    """Read ``ROOT/train/CLASS/*`` and ``ROOT/valid/CLASS/*`` (or ``val/``), both splits in
    sorted class then file order."""
    skipper = Skipper(on_error, f"load_class_folders({root})")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    present = [name for name in VALID_FOLDERS if (root / name).is_dir()]
    if len(present) != 1:
        found = "both valid/ and val/" if present else "neither valid/ nor val/"
        raise DatasetError(f"{root}: {found}; the validation classes go in exactly one of them")
    try:
        train = _folder_entries(root / "train", skipper, max_pixels)
        valid = _folder_entries(root / present[0], skipper, max_pixels)
        if not train:
            raise DatasetError(f"{root / 'train'}: no usable images")
    except DatasetError:
        skipper.report()
        raise
    return _vocabulary(train, valid, skipper, str(root / present[0]),
                       DatasetMeta("folders", f"ROOT/{present[0]}/ folder"))


def _label(fields: dict[str, str], where: str) -> str:
    label = fields["label"].strip()
    if not label:
        raise DatasetError(f"{where}: field label: empty class name")
    return label


def load_classes_csv(
    root: str | Path, valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise", max_pixels: int | None = None
) -> Dataset:
    """Read ``ROOT/labels.csv`` (``fname,label[,is_valid]``); without ``is_valid`` the rows
    are split at random (``fastkp.data.splits``)."""
    check_valid_frac(valid_frac)
    skipper = Skipper(on_error, f"load_classes_csv({root})")
    table = Table(root, ("fname", "label"))
    try:
        train, valid = split(table.entries(_label, skipper, max_pixels), valid_frac, seed, str(table.path))
    except DatasetError:
        skipper.report()
        raise
    return _vocabulary(train, valid, skipper, str(table.path), DatasetMeta("csv", table.split_rule(valid_frac, seed)))


def load_classes(
    root: str | Path, format: str = "folders", valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise",
    max_pixels: int | None = None,
) -> Dataset:
    """``load_class_folders`` (format "folders", the default; ``valid_frac`` and ``seed``
    unused) or ``load_classes_csv`` ("csv")."""
    known = formats_of("classes")
    if format not in known:
        raise UsageError(f"classify format must be one of {known}, got {format!r}", setting="format")
    return get("classes", format).read(root, ReadOptions(on_error, max_pixels, valid_frac, seed))


register(Format("folders", "classes", lambda root, o: load_class_folders(root, o.on_error, o.max_pixels),
                description="a folder per class: train/CLASS/*, valid/CLASS/* (or val/)"))
register(Format("csv", "classes", lambda root, o: load_classes_csv(root, o.valid_frac, o.seed, o.on_error,
                                                                   o.max_pixels),
                description="labels.csv (fname,label[,is_valid]), images/"))
