"""DeepLabCut reader: single-animal projects as DeepLabCut writes them.

Layout: ``ROOT/labeled-data/VIDEO/CollectedData_SCORER.csv`` (one per video folder;
folders without one, such as DeepLabCut's ``*_labeled`` plots, are not read) with the
frames beside it; where a folder has no CSV, its ``CollectedData_SCORER.h5``
(``dlc_h5``, the optional extra ``fastkp[dlc]``). Three header rows: ``scorer``,
``bodyparts`` (each name over its ``x`` and ``y`` columns), ``coords``; the index is either
one column (``labeled-data/VIDEO/img001.png``) or three (``labeled-data``, ``VIDEO``,
``img001.png``); only the file name is used, the frame is beside the CSV. An empty
x,y pair is an unlabelled point (NaN, visibility 0); labelled points are visible (2).
``ROOT/config.yaml``, where there is one (``dlc_config``), gives the body parts' order
(each file's columns must name the same parts and are put in that order) and the
validation share (1 - ``TrainingFraction[0]``); without it every file must name the same
body parts in the same order and ``valid_frac`` of the rows are drawn.

Coordinates: DeepLabCut's labelling tools put a pixel's centre at its integer index,
so ``DLC_SHIFT`` (+0.5) is added (fastkp's centre is at ``i + 0.5``). The box is the
labelled points' box enlarged by ``keypoint_samples.MARGIN`` (the whole image without any).
Flip pairs come from the sides in the names (``flips.flip_from_names``: ``left_ear``,
``leftear``, ``L_ear``, ``Lhand``/``Rhand``); a flip file
``{"flip_index": [...], "names": [...]}`` (``names`` optional) overrides them.
Rows are split at random as ``load_landmarks`` splits them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from .dataset import Dataset, DatasetMeta
from .dlc_config import MULTI_ANIMAL, DlcConfig, read_config
from .dlc_h5 import read_h5
from .flips import flip_from_names, read_flip_file
from .formats import Format, register
from .images import read_header
from .keypoint_samples import keypoint_samples
from .on_error import Skipper
from .paths import image_name, scan
from .sample import DatasetError, Sample
from .splits import check_valid_frac, random_rule, random_split
from .textio import csv_rows, decode, parse_floats, read_bounded

LABELED = "labeled-data"
DATA_NAME = re.compile(r"CollectedData_.+\.(csv|h5)")
HEADER = ("scorer", "bodyparts", "coords")
DLC_SHIFT = 0.5  # pixel indices -> fastkp's centre at i + 0.5


def parse_header(rows: list[tuple[int, list[str]]], where: str) -> tuple[int, list[str]]:
    """(index columns, body part names) from the three header rows."""
    if len(rows) < 3:
        raise DatasetError(f"{where}: expected three header rows (scorer, bodyparts, coords)")
    (l0, r0), (l1, r1), (l2, r2) = rows[:3]
    if r1 and r1[0].strip() == "individuals":
        raise DatasetError(f"{where}: line {l1}: an individuals row: {MULTI_ANIMAL}")
    for (line, row), name in zip(rows[:3], HEADER):
        if not row or row[0].strip() != name:
            raise DatasetError(f"{where}: line {line}: expected the {name!r} header row")
    n_index = 1
    while n_index < len(r0) and not r0[n_index].strip():
        n_index += 1
    width = len(r0)
    if (width - n_index) < 2 or (width - n_index) % 2:
        raise DatasetError(f"{where}: line {l0}: expected x,y column pairs after {n_index} index column(s)")
    for line, row in ((l1, r1), (l2, r2)):
        if len(row) != width:
            raise DatasetError(f"{where}: line {line}: {len(row)} fields, the scorer row has {width}")
        if any(cell.strip() for cell in row[1:n_index]):
            raise DatasetError(f"{where}: line {line}: the index columns of a header row must be empty")
    parts, coords = r1[n_index:], r2[n_index:]
    names = []
    for j in range(0, len(parts), 2):
        column = n_index + j + 1
        if [c.strip() for c in coords[j : j + 2]] != ["x", "y"]:
            raise DatasetError(f"{where}: line {l2}: columns {column},{column + 1} must be x,y")
        name = parts[j].strip()
        if not name or parts[j + 1].strip() != name:
            raise DatasetError(f"{where}: line {l1}: columns {column},{column + 1} must name one body part")
        if any(not r0[n_index + j + d].strip() for d in (0, 1)):
            raise DatasetError(f"{where}: line {l0}: column {column}: empty scorer")
        names.append(name)
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DatasetError(f"{where}: line {l1}: body part(s) {twice} given twice")
    return n_index, names


def _frame_name(index: list[str], where: str) -> str:
    """The frame's file name: the last part of the last non-empty index cell."""
    cells = [c.strip() for c in index if c.strip()]
    if not cells:
        raise DatasetError(f"{where}: empty frame name")
    return image_name(re.split(r"[\\/]", cells[-1])[-1], where)


def _check_pairs(given: Sequence[bool], names: list[str], where: str) -> None:
    """``given`` says which of x0, y0, x1, ... hold a value: both of a pair or neither."""
    if half := [i for i in range(len(names)) if given[2 * i] != given[2 * i + 1]]:
        raise DatasetError(f"{where}: {names[half[0]]}: only one of x, y is given")


def parse_row(row: list[str], n_index: int, names: list[str], where: str) -> tuple[str, np.ndarray]:
    """(frame file name, (K, 2) float64 points, NaN where unlabelled) of one data row."""
    if len(row) != n_index + 2 * len(names):
        raise DatasetError(f"{where}: {len(row)} fields, the header has {n_index + 2 * len(names)}")
    fname = _frame_name(row[:n_index], where)
    cells = row[n_index:]
    given = [bool(c.strip()) for c in cells]
    _check_pairs(given, names, where)
    filled = [i for i, g in enumerate(given) if g]
    values = parse_floats([cells[i] for i in filled],
                          lambda j: f"{where}: {names[filled[j] // 2]} {'xy'[filled[j] % 2]}")
    points = np.full((len(names), 2), np.nan)
    points[np.array(given[::2], bool)] = values.reshape(-1, 2)
    return fname, points


def _h5_row(index: list[str], values: np.ndarray, names: list[str], where: str) -> tuple[str, np.ndarray]:
    """``parse_row`` of an .h5 row: its index parts and (2K,) values, NaN where unlabelled."""
    fname = _frame_name(index, where)
    given = ~np.isnan(values)
    _check_pairs(given, names, where)
    if len(bad := np.flatnonzero(given & ~np.isfinite(values))):
        raise DatasetError(f"{where}: {names[bad[0] // 2]} {'xy'[bad[0] % 2]}: {values[bad[0]]} is out of range")
    return fname, values.reshape(-1, 2)


def _data_file(folder: Path) -> Path | None:
    """The folder's CollectedData CSV, else its .h5, else None."""
    names, bad = scan(folder, lambda n: DATA_NAME.fullmatch(n) is not None, "file")
    if bad:
        raise bad[0]
    for suffix in (".csv", ".h5"):
        if len(these := [n for n in names if n.endswith(suffix)]) > 1:
            raise DatasetError(f"{folder}: several CollectedData files {these}; keep one per folder")
        if these:
            return folder / these[0]
    return None


def _usable(where: str, rows: Iterable[tuple[str, object]], parse: Callable[[object, str], tuple[str, np.ndarray]],
            skipper: Skipper) -> list[tuple[str, str, np.ndarray]]:
    """(where, frame name, (K, 2) points in fastkp pixels) of each (label, raw) row that
    ``parse`` reads; a bad row or a frame given twice goes to ``skipper``."""
    found: list[tuple[str, str, np.ndarray]] = []
    first: dict[str, str] = {}
    for label, raw in rows:
        at = f"{where}: {label}"
        try:
            fname, points = parse(raw, at)
            if fname in first:
                raise DatasetError(f"{at}: {fname} is also on {first[fname]}")
            first[fname] = label
            found.append((at, fname, points + DLC_SHIFT))
        except DatasetError as err:
            skipper.bad(err)
    return found


def parse_dlc(text: str, where: str, skipper: Skipper) -> tuple[list[str], list[tuple[str, str, np.ndarray]]]:
    """Body part names and the usable rows (where, frame name, (K, 2) points in fastkp
    pixels) of a CollectedData CSV text; a bad row goes to ``skipper``, a bad header raises."""
    rows = csv_rows(text, where)
    n_index, names = parse_header(rows, where)
    return names, _usable(where, ((f"line {line}", row) for line, row in rows[3:]),
                          lambda row, at: parse_row(row, n_index, names, at), skipper)


def _in_config_order(names: list[str], config: DlcConfig, path: Path) -> list[int]:
    """The columns of ``names`` in config.yaml's body part order; other parts are an error."""
    if missing := [p for p in config.bodyparts if p not in names]:
        raise DatasetError(f"{path}: body parts {names} lack {missing} of {config.path}'s bodyparts")
    if extra := [n for n in names if n not in config.bodyparts]:
        raise DatasetError(f"{path}: body parts {extra} are not in {config.path}'s bodyparts {list(config.bodyparts)}")
    return [names.index(p) for p in config.bodyparts]


def _read(path: Path, config: DlcConfig | None, skipper: Skipper,
          max_pixels: int | None) -> tuple[list[str], list[Sample]]:
    if path.suffix == ".h5":
        names, h5_rows = read_h5(path)
        rows = _usable(str(path), ((label, (index, values)) for label, index, values in h5_rows),
                       lambda raw, at: _h5_row(*raw, names, at), skipper)
    else:
        names, rows = parse_dlc(decode(read_bounded(path, "CSV file"), str(path)), str(path), skipper)
    if config is not None:
        take = _in_config_order(names, config, path)
        names, rows = list(config.bodyparts), [(where, fname, points[take]) for where, fname, points in rows]
    records: list[tuple | DatasetError] = []
    folder = str(path.parent)
    for where, fname, points in rows:  # each frame once: _usable refuses a repeated one
        image = os.path.join(folder, fname)
        try:
            size = read_header(image, max_pixels).size
        except DatasetError as err:  # it names the image; add the row
            records.append(DatasetError(f"{where}: {err}"))
            if not skipper.skip:
                break  # this error or an earlier row's is the one raised
            continue
        visibility = np.where(np.isnan(points[:, 0]), 0, 2)
        records.append((image, size, points, visibility, f"{where} ({fname})"))
    return names, keypoint_samples(records, skipper)


def load_dlc(
    root: str | Path, flip_json: str | Path | None = None, valid_frac: float = 0.2, seed: int = 0,
    on_error: str = "raise", max_pixels: int | None = None,
) -> Dataset:
    """Read a DeepLabCut project's labelled frames (samples in sorted folder, then row
    order), its body parts and their flip pairs (from ``flip_json`` where given); ``valid_frac``
    of the rows are drawn for validation where config.yaml gives no TrainingFraction."""
    skipper = Skipper(on_error, f"load_dlc({root})")
    check_valid_frac(valid_frac)
    root = Path(root).expanduser()
    labeled = root / LABELED
    if not labeled.is_dir():
        raise DatasetError(f"{labeled}: missing folder of labelled frames")
    config = read_config(root)
    folders, bad = scan(labeled, lambda n: not n.startswith("."), "dir")
    for err in bad:
        skipper.bad(err)
    names: list[str] | None = None
    source = ""  # the file that named the body parts
    samples: list[Sample] = []
    for folder in folders:
        path = _data_file(labeled / folder)
        if path is None:
            continue
        these, found = _read(path, config, skipper, max_pixels)
        if names is None:
            names, source = these, str(config.path if config else path)
        elif these != names:
            raise DatasetError(f"{path}: body parts {these} differ from the other files' {names}")
        samples += found
    skipper.report()
    if names is None:
        raise DatasetError(f"{labeled}: no VIDEO/CollectedData_*.csv (or .h5) files")
    if not samples:
        raise DatasetError(f"{labeled}: no usable rows")
    if flip_json is not None:
        flip = read_flip_file(Path(flip_json).expanduser(), names)
    else:
        flip = flip_from_names(names, f"{source}: body parts",
                               hint='; give a flip file {"flip_index": [...]} to pair them')
    rule = random_rule(valid_frac, seed, "rows")
    if config is not None and config.valid_frac is not None:
        valid_frac = config.valid_frac
        rule = f"{random_rule(valid_frac, seed, 'rows')} (1 - TrainingFraction[0] of {config.path})"
    train, valid = random_split(samples, valid_frac, seed, str(labeled))
    meta = DatasetMeta("dlc", rule, point_names=tuple(names), flip_index=tuple(flip.tolist()), boxes="points")
    return Dataset(train, valid, meta)


register(Format("dlc", "keypoints",
                lambda root, o: load_dlc(root, o.flip_json, o.valid_frac, o.seed, o.on_error, o.max_pixels),
                description="DeepLabCut single-animal project: labeled-data/VIDEO/CollectedData_*.csv (or .h5), "
                            "config.yaml, frames beside"))
