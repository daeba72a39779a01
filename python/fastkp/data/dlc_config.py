"""A DeepLabCut project's ``ROOT/config.yaml``, where there is one: the body parts in their
order (``bodyparts``) and the share of frames DeepLabCut trains on (``TrainingFraction``, a
list; the first value is used). Multi-animal projects (``multianimalproject: true``) are
refused. The file is read with a size bound and ``yaml.safe_load``."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path

from .sample import DatasetError
from .textio import decode, load_yaml, read_bounded

CONFIG = "config.yaml"
CONFIG_LIMIT = 1 << 24  # bytes: video_sets may list many videos
MULTI_ANIMAL = "a multi-animal project; only single-animal DeepLabCut projects are read"


@dataclass(frozen=True)
class DlcConfig:
    """``path`` (named in messages), ``bodyparts`` and ``valid_frac`` (1 - TrainingFraction[0],
    None where the file gives no TrainingFraction)."""

    path: Path
    bodyparts: tuple[str, ...]
    valid_frac: float | None


def parse_config(text: str, path: Path) -> DlcConfig:
    spec = load_yaml(text, str(path))
    if not isinstance(spec, dict):
        raise DatasetError(f"{path}: expected a mapping with bodyparts (DeepLabCut's project config)")
    if spec.get("multianimalproject"):
        raise DatasetError(f"{path}: multianimalproject is true: {MULTI_ANIMAL}")
    parts = spec.get("bodyparts")
    if (not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p.strip() for p in parts)
            or len({p.strip() for p in parts}) != len(parts)):
        raise DatasetError(f"{path}: bodyparts must be a list of distinct names, got {parts!r}")
    fraction = spec.get("TrainingFraction")
    if fraction is None:
        return DlcConfig(path, tuple(p.strip() for p in parts), None)
    if not (isinstance(fraction, list) and fraction and isinstance(fraction[0], numbers.Real)
            and not isinstance(fraction[0], bool) and 0 < fraction[0] < 1):
        raise DatasetError(f"{path}: TrainingFraction must be a list whose first value is in (0, 1), "
                           f"got {fraction!r}")
    return DlcConfig(path, tuple(p.strip() for p in parts), 1 - float(fraction[0]))


def read_config(root: Path) -> DlcConfig | None:
    """``ROOT/config.yaml`` checked, or None where the project has none."""
    path = root / CONFIG
    if not path.exists():
        return None
    return parse_config(decode(read_bounded(path, "DeepLabCut config", CONFIG_LIMIT), str(path)), path)
