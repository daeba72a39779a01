"""``fastkp.json``: what a deployed model is, stored inside the exported file.

TorchScript and pt2 files are zip archives with one top-level folder; the metadata
is the record ``extra/fastkp.json`` in either (TorchScript keeps ``_extra_files``
there, and the pt2 package gets it as a PT2 archive extra file), so Python
(:func:`read_metadata`) and C++ (``fastkp::infer::read_metadata``) read it without
loading the network. An ONNX file carries it as the ``metadata_props`` entry
``fastkp.json`` (Python only: fastkp-infer refuses ONNX files).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .. import __version__
from .. import heads as heads_mod
from ..checkpoint import ModelSpec
from ..data.textio import load_json
from ..errors import DatasetError, ExportError, FastkpError
from ..heads import Head
from ..pipeline.boxes import BoxCrop
from . import formats
from .archive import check_entries

FILE_NAME = "fastkp.json"
RECORD = f"extra/{FILE_NAME}"
MARKER = "fastkp-model"
VERSION = 2
# fields added after version 2 was first written, with their old value
OPTIONAL = {"pretrained": False, "box_crop": None, "tta": None}
NOT_EXPORTED = " (a checkpoint? export it with python -m fastkp.export)"
_TUPLES = ("input_size", "mean", "std")


@dataclass(frozen=True)
class ModelMetadata:
    """The deployed model: its task, network input, and one entry per head in output order.

    ``heads`` holds each head's ``fastkp.json`` entry (``{"name", "kind", ...}``, see
    :mod:`fastkp.heads`); the exported ``forward`` returns one tensor per head in that
    order (the tensor itself for a single head). ``device`` is where a pt2 package runs
    (AOTInductor compiles for one device); TorchScript runs anywhere (``"any"``).
    Version-1 files (one ``output``) load as one head.
    """

    task: str
    arch: str
    input_size: tuple[int, int]  # network input (height, width); images of any size are resized to it
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    heads: list[dict]
    export_format: str
    device: str
    resize: str
    fastkp_version: str
    torch_version: str
    pretrained: bool = False  # the body started from ImageNet (or --weights) weights
    # {"margin", "mode"} (fastkp.pipeline.boxes): forward(images, boxes) crops each box's window
    box_crop: dict | None = None
    tta: str | None = None  # "flip": the model averages its answer with its mirror image's

    def head_objects(self) -> list[Head]:
        """The heads, rebuilt from their entries (to decode outputs and draw)."""
        return [heads_mod.from_state(entry) for entry in self.heads]

    def to_json(self) -> str:
        d = {"format": MARKER, "version": VERSION, **asdict(self)}
        return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes, path: str | Path) -> ModelMetadata:
        """Parse and check ``fastkp.json``; ExportError names ``path`` and the bad field."""
        try:  # strict, as fastkp-infer: NaN, Infinity and deep nesting are refused
            d = load_json(text, f"{path}: {FILE_NAME}")
        except DatasetError as e:
            raise ExportError(str(e)) from None
        if not isinstance(d, dict) or d.get("format") != MARKER:
            raise ExportError(f"{path}: {FILE_NAME} lacks the '{MARKER}' marker: not a fastkp model")
        if d.get("version") not in (1, VERSION):
            raise ExportError(f"{path}: fastkp model version {d.get('version')!r} is not supported "
                              f"(this fastkp reads versions 1 and {VERSION})")
        try:
            if d["version"] == 1:
                d = _upgrade_v1(d)
            fields = {f: d.get(f, OPTIONAL[f]) if f in OPTIONAL else d[f] for f in cls.__dataclass_fields__}
            for k in _TUPLES:
                fields[k] = tuple(fields[k])
            # each entry as its head writes it: optional fields take their defaults
            fields["heads"] = [heads_mod.from_state(e).export_entry() for e in fields["heads"]]
            meta = cls(**fields)
            meta.check()
        except (KeyError, TypeError, ValueError, AttributeError, FastkpError) as e:
            raise ExportError(f"{path}: {FILE_NAME} is damaged ({type(e).__name__}: {e})") from None
        return meta

    def check(self) -> None:
        """ValueError (or UsageError for a head) unless the fields hold together."""
        if self.export_format not in formats.names():
            raise ValueError(f"export_format {self.export_format!r}")
        if not isinstance(self.pretrained, bool):
            raise ValueError(f"pretrained {self.pretrained!r}")
        if len(self.input_size) != 2 or min(self.input_size) < 1 or len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("input_size, mean or std has the wrong length")
        if not isinstance(self.heads, list) or not all(isinstance(h, dict) for h in self.heads):
            raise ValueError("heads must be a list of objects")
        heads = self.head_objects()
        heads_mod.check_names(heads)
        if self.box_crop is not None:
            if not isinstance(self.box_crop, dict) or set(self.box_crop) != {"margin", "mode"}:
                raise ValueError(f"box_crop {self.box_crop!r} (expected {{'margin', 'mode'}})")
            BoxCrop(**self.box_crop)
        check_tta(self.tta, heads)


def check_tta(tta: str | None, heads: list[Head]) -> None:
    """ValueError unless ``tta`` is None, or "flip" for heads that all support the flip test
    (keypoint heads with a flip permutation: the mirrored image's points come back through it)."""
    if tta is None:
        return
    if tta != "flip":
        raise ValueError(f"tta {tta!r} (the test-time augmentation fastkp has is 'flip')")
    for head in heads:
        head.check_flip()


def _upgrade_v1(d: dict) -> dict:
    """A version-1 record (one ``output``) as version 2: one head named as C++ names it."""
    if d["output"] == "keypoints":
        head = {"name": "keypoints", "kind": "keypoints", "n_keypoints": d["n_keypoints"], "y_range": d["y_range"]}
    elif d["output"] == "probabilities":
        head = {"name": "labels", "kind": "multilabel", "vocab": d["vocab"], "threshold": d["threshold"]}
    else:
        raise ValueError(f"output {d['output']!r}")
    return {**d, "heads": [head]}


def metadata_for(spec: ModelSpec, export_format: str, device: str, tta: str | None = None) -> ModelMetadata:
    """The metadata of a model trained as ``spec``, deployed with ``tta``."""
    return ModelMetadata(
        task=spec.task,
        arch=spec.arch,
        input_size=tuple(int(v) for v in spec.size),
        mean=tuple(float(v) for v in spec.mean),
        std=tuple(float(v) for v in spec.std),
        heads=[h.export_entry() for h in spec.heads],
        export_format=export_format,
        device=device,
        resize="squash, bilinear, align_corners=False, no antialias",
        fastkp_version=__version__,
        torch_version=str(torch.__version__),
        pretrained=bool(spec.pretrained),
        box_crop=spec.box_crop,
        tta=tta,
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
    path = Path(path).expanduser()
    if not path.is_file():
        raise ExportError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path) and is_onnx(path):
        from .onnx import read_onnx_metadata

        return _checked(ModelMetadata.from_json(read_onnx_metadata(path), path), "onnx", path)
    try:
        with zipfile.ZipFile(path) as z:
            check_entries(z, path, RECORD)
            kind = archive_kind(z)
            if kind is None:
                raise ExportError(f"{path}: not a TorchScript file or pt2 package{NOT_EXPORTED}")
            record = f"{z.namelist()[0].split('/', 1)[0]}/{RECORD}"
            if record not in z.namelist():
                raise ExportError(f"{path}: a {kind} file without {RECORD}: not exported by fastkp.export")
            text = z.read(record)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ExportError(f"{path}: not a fastkp model file ({type(e).__name__}: {e})") from None
    return _checked(ModelMetadata.from_json(text, path), kind, path)


def is_onnx(path: Path) -> bool:
    """An ONNX protobuf starts with field 1 (ir_version), a varint: byte 0x08."""
    with open(path, "rb") as f:
        return f.read(1) == b"\x08" or path.suffix.lower() == ".onnx"


def _checked(meta: ModelMetadata, kind: str, path: Path) -> ModelMetadata:
    if meta.export_format != kind:
        raise ExportError(f"{path}: {FILE_NAME} says {meta.export_format} but the file is a {kind} file")
    return meta
