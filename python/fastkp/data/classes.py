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

from pathlib import Path

from ._csv_layout import Entry, Table, check_valid_frac, is_image_name, split
from ._errors import Skipper
from ._parse import scan
from .images import read_header
from .sample import DatasetError, Sample
from ..errors import UsageError

FORMATS = ("folders", "csv")
VALID_FOLDERS = ("valid", "val")


def _vocabulary(
    train: list[Entry[str]], valid: list[Entry[str]], skipper: Skipper, source: str
) -> tuple[list[Sample], list[Sample], list[str]]:
    """Samples labelled by index into the sorted training classes; a validation entry of
    another class is bad input."""
    vocab = sorted({e.target for e in train})
    index = {name: i for i, name in enumerate(vocab)}
    for e in valid:
        if e.target not in index:
            skipper.bad(DatasetError(f"{e.where}: class {e.target!r} is only in the validation split"))
    skipper.report()
    valid = [e for e in valid if e.target in index]
    if not valid:
        raise DatasetError(f"{source}: empty validation split (no usable sample of a training class)")
    return (
        [Sample(e.path, e.size, label=index[e.target]) for e in train],
        [Sample(e.path, e.size, label=index[e.target]) for e in valid],
        vocab,
    )


def _folder_entries(split_dir: Path, skipper: Skipper) -> list[Entry[str]]:
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
                entries.append(Entry(str(path), read_header(path).size, name, str(path)))
            except DatasetError as err:
                skipper.bad(err)
    return entries


def load_class_folders(root: str | Path, on_error: str = "raise") -> tuple[list[Sample], list[Sample], list[str]]:
    """Read ``ROOT/train/CLASS/*`` and ``ROOT/valid/CLASS/*`` (or ``val/``); returns
    (train, valid, vocab), both splits in sorted class then file order."""
    skipper = Skipper(on_error, f"load_class_folders({root})")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    present = [name for name in VALID_FOLDERS if (root / name).is_dir()]
    if len(present) != 1:
        found = "both valid/ and val/" if present else "neither valid/ nor val/"
        raise DatasetError(f"{root}: {found}; the validation classes go in exactly one of them")
    try:
        train = _folder_entries(root / "train", skipper)
        valid = _folder_entries(root / present[0], skipper)
        if not train:
            raise DatasetError(f"{root / 'train'}: no usable images")
    except DatasetError:
        skipper.report()
        raise
    return _vocabulary(train, valid, skipper, str(root / present[0]))


def _label(fields: dict[str, str], where: str) -> str:
    label = fields["label"].strip()
    if not label:
        raise DatasetError(f"{where}: field label: empty class name")
    return label


def load_classes_csv(
    root: str | Path, valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise"
) -> tuple[list[Sample], list[Sample], list[str]]:
    """Read ``ROOT/labels.csv`` (``fname,label[,is_valid]``); returns (train, valid, vocab).
    Without ``is_valid`` the rows are split as ``load_landmarks`` splits them."""
    check_valid_frac(valid_frac)
    skipper = Skipper(on_error, f"load_classes_csv({root})")
    table = Table(root, ("fname", "label"))
    try:
        train, valid = split(table.entries(_label, skipper), valid_frac, seed, str(table.path))
    except DatasetError:
        skipper.report()
        raise
    return _vocabulary(train, valid, skipper, str(table.path))


def load_classes(
    root: str | Path, format: str = "folders", valid_frac: float = 0.2, seed: int = 0, on_error: str = "raise"
) -> tuple[list[Sample], list[Sample], list[str]]:
    """``load_class_folders`` (format "folders", the default; ``valid_frac`` and ``seed``
    unused) or ``load_classes_csv`` ("csv")."""
    if format not in FORMATS:
        raise UsageError(f"classify format must be one of {FORMATS}, got {format!r}", setting="format")
    if format == "folders":
        return load_class_folders(root, on_error=on_error)
    return load_classes_csv(root, valid_frac=valid_frac, seed=seed, on_error=on_error)
