"""Horizontal-flip permutations: point i becomes ``flip[i]`` when the image is mirrored.

Formats give them three ways (a list in the annotation, the sides in the point names,
a flip file beside the data) and ``--flip-json`` overrides any of them;
all are checked here to be a permutation that is its own inverse.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .on_error import log
from .sample import DatasetError
from .textio import decode, load_json, read_bounded

FLIP_LIMIT = 1 << 20  # bytes of a flip file

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")  # snake_case, CamelCase, ALLCAPS words
_SIDES = {"left": "right", "right": "left"}
_LETTERS = {"l": "r", "r": "l", "L": "R", "R": "L"}


def check_flip(flip: object, k: int, where: str, name: str = "flip index") -> np.ndarray:
    """A flip list (``name`` in messages): a permutation of 0..K-1 of plain ints that is its
    own inverse; (K,) int64. Every reader with a flip permutation checks it here."""
    if (
        not isinstance(flip, list)
        or len(flip) != k
        or not all(type(i) is int for i in flip)
        or sorted(flip) != list(range(k))
    ):
        shown = flip if not isinstance(flip, list) or len(flip) <= 40 else f"{flip[:40]}..."
        raise DatasetError(f"{where}: {name} must be a permutation of 0..{k - 1}, got {shown}")
    if bad := [i for i in range(k) if flip[flip[i]] != i]:
        raise DatasetError(
            f"{where}: {name} is not its own inverse (point {bad[0]} -> {flip[bad[0]]} "
            f"-> {flip[flip[bad[0]]]}); a flip must swap pairs or keep points"
        )
    return np.array(flip, np.int64)


def _same_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    return word.capitalize() if like[0].isupper() else word


def _edit(name: str, edits: list[tuple[int, int, str]]) -> str:
    """``name`` with each (start, end) span replaced by its text."""
    out, last = [], 0
    for start, end, text in edits:
        out += [name[last:start], text]
        last = end
    return "".join(out) + name[last:]


def _side_words(name: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), _same_case(_SIDES[m.group().lower()], m.group()))
            for m in _WORD.finditer(name) if m.group().lower() in _SIDES]


def mirror_name(name: str) -> str:
    """``name`` with its side swapped, in any case: the words ``left`` and ``right`` in
    snake_case, CamelCase or ALLCAPS (``left_ear``, ``LeftPaw``, ``pawLeft``); in a name
    without them, ``left``/``right`` glued to the front of a word (``leftear``, ``Rightpaw``)
    and a lone letter L/R beside another word (``L_ear``, ``ear_r``, ``LEar``, ``earR``; not
    ``L1``). Other names (``bright``, ``tail``, ``Lhand``) come back as they are."""
    if words := _side_words(name):
        return _edit(name, words)
    found = list(_WORD.finditer(name))
    alpha = sum(m.group().isalpha() for m in found)
    edits = []
    for m in found:
        word, low = m.group(), m.group().lower()
        side = next((s for s in _SIDES if low.startswith(s)), None)
        if side:
            edits.append((m.start(), m.start() + len(side), _same_case(_SIDES[side], word[: len(side)])))
        elif word in _LETTERS and alpha > 1:
            edits.append((m.start(), m.end(), _LETTERS[word]))
    return _edit(name, edits)


def _letter_partners(name: str, index: dict[str, int]) -> list[str]:
    """The names in ``index`` without a side of their own that ``name`` becomes when one
    L/R letter opening or closing a word is swapped (``Lhand``/``Rhand``, ``lf_digit1``/
    ``rf_digit1``, ``FL1``/``FR1``)."""
    swaps = {name[:at] + _LETTERS[name[at]] + name[at + 1:]
             for m in _WORD.finditer(name) for at in (m.start(), m.end() - 1) if name[at] in _LETTERS}
    return sorted(c for c in swaps if c in index and mirror_name(c) == c)


def flip_from_names(names: Sequence[str], where: str, hint: str = "") -> np.ndarray:
    """(K,) int64: each point's mirror under a horizontal flip by its name. A name with the
    word left/right (``mirror_name``) needs its partner (an error, ``hint`` saying how to give
    the permutation instead); other sided names (``leftear``, ``L_ear``) pair with theirs or,
    without one, stay their own mirror with one warning line on the ``fastkp.data`` logger;
    names that differ only in an L/R letter opening or closing a word (``Lhand``/``Rhand``)
    pair when both are there; the rest map to themselves."""
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in index:
            raise DatasetError(f"{where}: point name {name!r} is given twice (points {index[name]} and {i})")
        index[name] = i
    flip, lonely = [], []
    for i, name in enumerate(names):
        other = mirror_name(name)
        if other == name:
            found = _letter_partners(name, index)
            other = found[0] if len(found) == 1 and _letter_partners(found[0], index) == [name] else name
        elif other not in index:
            if _side_words(name):
                raise DatasetError(f"{where}: point {i} {name!r} has no mirror point {other!r}{hint}")
            lonely.append(f"{name!r} (no {other!r})")
            other = name
        flip.append(index[other])
    if lonely:
        log.warning("%s: %s look sided but have no mirror point; each is kept as its own mirror under a "
                    "horizontal flip%s", where, ", ".join(lonely), hint)
    return check_flip(flip, len(names), where, "flip from the point names")


def parse_landmark_flip(text: str, where: str, k: int) -> tuple[list[str], np.ndarray]:
    """(names, flip_index (K,) int64) of a landmark set's flip.json: exactly the keys
    ``names`` (K strings, one per CSV point) and ``flip_index``."""
    spec = load_json(text, where)
    if not isinstance(spec, dict) or set(spec) != {"names", "flip_index"}:
        raise DatasetError(f'{where}: expected an object with exactly the keys "names" and "flip_index"')
    names, flip = spec["names"], spec["flip_index"]
    if not isinstance(names, list) or len(names) != k or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{where}: field names must be a list of {k} strings (one per CSV point)")
    return names, check_flip(flip, k, where, "field flip_index")


def parse_flip_file(text: str, where: str, names: list[str]) -> np.ndarray:
    """``{"flip_index": [...]}`` with an optional ``"names"`` that must equal the body parts."""
    spec = load_json(text, where)
    if not isinstance(spec, dict) or "flip_index" not in spec or not set(spec) <= {"flip_index", "names"}:
        raise DatasetError(f'{where}: expected an object with the key "flip_index" (and optionally "names")')
    if "names" in spec and spec["names"] != names:
        raise DatasetError(f"{where}: names {spec['names']!r} are not the CSV's body parts {names}")
    return check_flip(spec["flip_index"], len(names), where)


def read_flip_file(path: str | Path, names: list[str]) -> np.ndarray:
    """``parse_flip_file`` of the file ``path`` (named as given in messages)."""
    text = decode(read_bounded(Path(path), "flip file", FLIP_LIMIT), str(path))
    return parse_flip_file(text, str(path), names)


def with_flip_file(dataset: Dataset, path: str | Path) -> Dataset:
    """``--flip-json FILE``: ``dataset`` with the permutation of ``FILE`` over the reader's;
    its ``names``, if given, must be the dataset's point names (0, 1, ... without any)."""
    k = int((dataset.train or dataset.valid)[0].keypoints.shape[0])
    names = list(dataset.meta.point_names or [str(i) for i in range(k)])
    flip = tuple(int(i) for i in read_flip_file(path, names))
    return replace(dataset, meta=replace(dataset.meta, flip_index=flip))
