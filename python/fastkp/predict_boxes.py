"""``--box`` and ``--boxes FILE.jsonl`` of ``python -m fastkp.predict``, read as fastkp-infer
reads them (csrc/infer/cli/boxes_file.cpp): every malformed value is a UsageError naming
the option or FILE:LINE, before any image runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .data.textio import read_bounded
from .errors import DatasetError, UsageError
from .pipeline.boxes import check_boxes

MAX_BOXES_FILE = 1 << 30
MAX_BOXES_PER_LINE = 10_000  # each box runs the model once (fastkp-infer's kMaxBoxesPerLine)

# A number as --box takes it (and fastkp-infer's std::from_chars): plain decimal or
# scientific notation, an optional '-' and no '+', no spaces, no inf or nan.
_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_box(text: str, where: str) -> list[float]:
    """``x0,y0,x1,y1``: four comma-separated numbers (nothing else, not even spaces), finite
    as float32, with x1 > x0 and y1 > y0; UsageError naming ``where`` and ``text`` otherwise."""
    parts = text.split(",")
    if len(parts) == 4 and all(_NUMBER.fullmatch(v) and not _underflows(v) for v in parts):
        try:
            return check_box([float(v) for v in parts], where)
        except UsageError:
            pass
    raise UsageError(f"{where} needs x0,y0,x1,y1: four finite numbers with x1 > x0 and y1 > y0, got {text!r}")


def _underflows(number: str) -> bool:
    """Non-zero digits that round to zero as a double (``1e-400``), out of range for
    fastkp-infer's std::from_chars as much as ``1e400`` is."""
    return float(number) == 0.0 and any(c in "123456789" for c in re.split("[eE]", number)[0])


def check_box(box: object, where: str) -> list[float]:
    """``[x0, y0, x1, y1]`` as float32 values (those the model takes, as fastkp-infer
    checks them): finite, with x1 > x0 and y1 > y0."""
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                            for v in box)):
        raise UsageError(f"{where}: a box is a list of four numbers [x0, y0, x1, y1], got {box!r}")
    try:
        return check_boxes([box], where)[0].tolist()
    except ValueError:
        raise UsageError(f"{where}: box {box} must be finite (as float32) with x1 > x0 and y1 > y0") from None


def read_boxes_file(path: str) -> list[tuple[str, list[list[float]]]]:
    """``--boxes FILE.jsonl``: (image, boxes) per non-blank line, in file order; UsageError
    naming FILE:LINE for anything malformed, before any image runs."""
    try:
        data = read_bounded(Path(path), "boxes file", limit=MAX_BOXES_FILE)
    except DatasetError as e:
        raise UsageError(f"--boxes {path}: {e}") from None
    out = []
    for n, raw in enumerate(data.split(b"\n"), 1):  # fastkp-infer's lines: split at "\n" only
        where = f"{path}:{n}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UsageError(f"{where}: invalid UTF-8 at byte {e.start}") from None
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as e:
            raise UsageError(f"{where}: not JSON ({e})") from None
        except RecursionError:  # the parser's depth bound: Python's recursion limit
            raise UsageError(f"{where}: not JSON (arrays or objects nested too deeply)") from None
        if not isinstance(entry, dict) or not {"image", "boxes"} <= set(entry) or not isinstance(entry["image"], str) \
                or not isinstance(entry["boxes"], list) or not entry["boxes"]:
            raise UsageError(f'{where}: expected {{"image": PATH, "boxes": [[x0, y0, x1, y1], ...]}}')
        if "\0" in entry["image"]:  # a path cannot hold one: open() would fail later, without FILE:LINE
            raise UsageError(f"{where}: field 'image' holds a NUL byte")
        if any("\ud800" <= c <= "\udfff" for c in entry["image"]):  # json.loads lets "\udc80" through
            raise UsageError(f"{where}: field 'image' holds a lone surrogate")
        if len(entry["boxes"]) > MAX_BOXES_PER_LINE:
            raise UsageError(f"{where}: field 'boxes' has {len(entry['boxes'])} boxes, at most {MAX_BOXES_PER_LINE} "
                             "per line")
        out.append((entry["image"], [check_box(b, where) for b in entry["boxes"]]))
    if not out:
        raise UsageError(f"--boxes {path}: no line names an image")
    return out
