"""``fastkp.json``: what a deployed model is, stored inside the exported file.

Both export formats are zip archives with one top-level folder; the metadata is
the record ``extra/fastkp.json`` in either (TorchScript keeps ``_extra_files``
there, and the pt2 package gets it as a PT2 archive extra file), so Python
(:func:`read_metadata`) and C++ (``fastkp::infer::read_metadata``) read it without
loading the network.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .. import __version__
from ..checkpoint import RunConfig

FILE_NAME = "fastkp.json"
RECORD = f"extra/{FILE_NAME}"
MARKER = "fastkp-model"
VERSION = 1
FORMATS = ("torchscript", "pt2")
NOT_EXPORTED = " (a checkpoint? export it with python -m fastkp.export)"
DEFAULT_THRESHOLD = 0.5  # classifiers whose checkpoint names no threshold


class ExportError(Exception):
    """A model file that is missing, corrupt, foreign, or unusable as asked; names the file."""


@dataclass(frozen=True)
class ModelMetadata:
    """The deployed model: its task, network input and what its output means.

    ``output`` is ``"keypoints"`` ((B, K, 2) float32 (x, y) in pixels of the input
    images) or ``"probabilities"`` ((B, C) float32, one per ``vocab`` entry; a label
    is predicted when its probability is above ``threshold``). ``device`` is where a
    pt2 package runs (AOTInductor compiles for one device); TorchScript runs anywhere
    (``"any"``).
    """

    task: str
    arch: str
    input_size: tuple[int, int]  # network input (height, width); images of any size are resized to it
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output: str
    n_keypoints: int | None
    y_range: tuple[float, float] | None
    vocab: list[str] | None
    threshold: float | None
    export_format: str
    device: str
    resize: str
    fastkp_version: str
    torch_version: str

    @property
    def keypoints(self) -> bool:
        return self.output == "keypoints"

    def to_json(self) -> str:
        d = {"format": MARKER, "version": VERSION, **asdict(self)}
        return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes, path: str | Path) -> ModelMetadata:
        """Parse and check ``fastkp.json``; ExportError names ``path`` and the bad field."""
        try:
            d = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise ExportError(f"{path}: {FILE_NAME} is not valid JSON ({e})") from None
        if not isinstance(d, dict) or d.get("format") != MARKER:
            raise ExportError(f"{path}: {FILE_NAME} lacks the '{MARKER}' marker: not a fastkp model")
        if d.get("version") != VERSION:
            raise ExportError(f"{path}: fastkp model version {d.get('version')!r} is not supported "
                              f"(this fastkp reads version {VERSION})")
        try:
            fields = {f: d[f] for f in cls.__dataclass_fields__}
            for k in _TUPLES:
                if fields[k] is not None:
                    fields[k] = tuple(fields[k])
            meta = cls(**fields)
            meta.check()
        except (KeyError, TypeError, ValueError) as e:
            raise ExportError(f"{path}: {FILE_NAME} is damaged ({type(e).__name__}: {e})") from None
        return meta

    def check(self) -> None:
        """ValueError unless the fields hold together as the loaders expect."""
        if self.output not in ("keypoints", "probabilities"):
            raise ValueError(f"output {self.output!r}")
        if self.export_format not in FORMATS:
            raise ValueError(f"export_format {self.export_format!r}")
        if len(self.input_size) != 2 or min(self.input_size) < 1 or len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("input_size, mean or std has the wrong length")
        if self.keypoints and not (isinstance(self.n_keypoints, int) and self.n_keypoints >= 1):
            raise ValueError(f"n_keypoints {self.n_keypoints!r}")
        if not self.keypoints and not (self.vocab and isinstance(self.threshold, (int, float))):
            raise ValueError("a classifier needs vocab and threshold")


_TUPLES = ("input_size", "mean", "std", "y_range")


def metadata_for(config: RunConfig, model: torch.nn.Module, export_format: str, device: str) -> ModelMetadata:
    """The metadata of ``model`` (a FastkpModel) trained with ``config``."""
    keypoints = config.n_keypoints is not None
    y_range = (model.y_range.lo, model.y_range.hi) if keypoints else None
    return ModelMetadata(
        task=config.task,
        arch=config.arch,
        input_size=tuple(int(v) for v in config.size),
        mean=tuple(float(v) for v in config.mean),
        std=tuple(float(v) for v in config.std),
        output="keypoints" if keypoints else "probabilities",
        n_keypoints=config.n_keypoints,
        y_range=y_range,
        vocab=None if keypoints else list(config.vocab or []),
        threshold=None if keypoints else float(config.threshold if config.threshold is not None
                                               else DEFAULT_THRESHOLD),
        export_format=export_format,
        device=device,
        resize="squash, bilinear, align_corners=False, no antialias",
        fastkp_version=__version__,
        torch_version=str(torch.__version__),
    )


def archive_kind(z: zipfile.ZipFile) -> str | None:
    """'pt2', 'torchscript' or None for a zip whose records share one top-level folder."""
    names = z.namelist()
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1:
        return None
    root = roots.pop()
    if f"{root}/archive_format" in names and z.read(f"{root}/archive_format") == b"pt2":
        return "pt2"
    if f"{root}/constants.pkl" in names:
        return "torchscript"
    return None


def read_metadata(path: str | Path) -> ModelMetadata:
    """The metadata of an exported model file, without loading the network."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as z:
            kind = archive_kind(z)
            if kind is None:
                raise ExportError(f"{path}: not a TorchScript file or pt2 package{NOT_EXPORTED}")
            record = f"{z.namelist()[0].split('/', 1)[0]}/{RECORD}"
            if record not in z.namelist():
                raise ExportError(f"{path}: a {kind} file without {RECORD}: not exported by fastkp.export")
            text = z.read(record)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ExportError(f"{path}: not a fastkp model file ({type(e).__name__}: {e})") from None
    meta = ModelMetadata.from_json(text, path)
    if meta.export_format != kind:
        raise ExportError(f"{path}: {FILE_NAME} says {meta.export_format} but the file is a {kind} archive")
    return meta
