"""Import a DIGITS generic (regression) dataset into the layout ``load_values`` reads.

``python -m fastkp.data.digits TRAIN_IMAGES TRAIN_LABELS [VAL_IMAGES VAL_LABELS] OUT``

DIGITS keeps images and label vectors in two LMDB databases of Caffe ``Datum``
records paired by key: an image datum holds PNG/JPEG bytes (``encoded``) or raw
uint8 pixels stored channel-first with colour in BGR order; a label datum holds the
vector in ``float_data``. The import writes ``OUT/images/{train,val}_NNNNNN.png`` in
key order and ``OUT/labels.csv`` (``fname,v0,v1,...`` or the ``--names`` given, plus
``is_valid`` when a validation pair is given), in a folder beside OUT renamed to OUT
at the end, so that an interrupted import leaves no OUT. Needs the ``lmdb`` and ``protobuf`` packages (``fastkp[digits]``).
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import os
import shutil
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ArgumentParser, UsageError, run_cli
from .pixels import check_pixels, over_limit, pil_limit
from .sample import DatasetError

PROG = "fastkp.data.digits"
Pair = tuple[Path, Path]  # (images database, labels database)
# caffe.proto's message Datum (proto2): name, field number, type, label.
_INT32, _BYTES, _FLOAT, _BOOL, _OPTIONAL, _REPEATED = 5, 12, 2, 8, 1, 3
DATUM_FIELDS = (
    ("channels", 1, _INT32, _OPTIONAL),
    ("height", 2, _INT32, _OPTIONAL),
    ("width", 3, _INT32, _OPTIONAL),
    ("data", 4, _BYTES, _OPTIONAL),
    ("label", 5, _INT32, _OPTIONAL),
    ("float_data", 6, _FLOAT, _REPEATED),
    ("encoded", 7, _BOOL, _OPTIONAL),
)
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error)


def _needs(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise UsageError(f"the DIGITS importer needs the {module.split('.')[0]} package: "
                         "pip install 'fastkp[digits]'") from None


@functools.cache
def datum_class() -> type:
    """Caffe's ``Datum`` message class, built at run time (no protoc, no caffe)."""
    descriptor_pb2 = _needs("google.protobuf.descriptor_pb2")
    pool = _needs("google.protobuf.descriptor_pool").DescriptorPool()  # private: no clash with caffe_pb2
    proto = descriptor_pb2.FileDescriptorProto(name="fastkp/caffe_datum.proto", package="caffe", syntax="proto2")
    message = proto.message_type.add(name="Datum")
    for name, number, kind, label in DATUM_FIELDS:
        message.field.add(name=name, number=number, type=kind, label=label)
    pool.Add(proto)
    return _needs("google.protobuf.message_factory").GetMessageClass(pool.FindMessageTypeByName("caffe.Datum"))


def _open(path: Path):
    lmdb = _needs("lmdb")
    if not path.exists():
        raise DatasetError(f"{path}: missing LMDB database")
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, subdir=path.is_dir())
        # the file is memory-mapped: reading a page past its end is a SIGBUS, not an error
        need = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    except lmdb.Error as err:
        raise DatasetError(f"{path}: not a readable LMDB database ({err})") from None
    data = path / "data.mdb" if path.is_dir() else path
    size = data.stat().st_size
    if size < need:
        env.close()
        raise DatasetError(f"{data}: truncated LMDB database: {size:,} bytes, its header says {need:,}")
    return env


def _datum(value: bytes, where: str):
    try:
        return datum_class().FromString(value)
    except Exception as err:  # protobuf's DecodeError, whichever implementation is loaded
        raise DatasetError(f"{where}: not a Caffe Datum record ({type(err).__name__})") from None


def datum_pixels(datum, where: str) -> np.ndarray:
    """Pixels of an image datum: uint8 (H, W) grayscale or (H, W, 3) RGB."""
    if datum.encoded:
        try:
            with pil_limit(), Image.open(io.BytesIO(datum.data), formats=("PNG", "JPEG")) as im:
                check_pixels(where, im.height, im.width)
                gray = im.mode in ("1", "L", "LA", "I", "I;16", "F")
                return np.asarray(im.convert("L" if gray else "RGB"))
        except Image.DecompressionBombError:
            raise over_limit(where) from None
        except _DECODE_ERRORS as err:
            raise DatasetError(f"{where}: encoded data is not a readable PNG or JPEG ({type(err).__name__})") \
                from None
    c, h, w = datum.channels, datum.height, datum.width
    if c not in (1, 3) or h < 1 or w < 1:
        raise DatasetError(f"{where}: raw datum of {c}x{h}x{w} (channels x height x width), "
                           "expected 1 or 3 channels")
    check_pixels(where, h, w)
    if len(datum.data) != c * h * w:
        raise DatasetError(f"{where}: raw datum has {len(datum.data)} bytes of uint8 pixels, "
                           f"{c}x{h}x{w} needs {c * h * w}")
    chw = np.frombuffer(datum.data, np.uint8).reshape(c, h, w)
    return chw[0] if c == 1 else np.ascontiguousarray(chw[::-1].transpose(1, 2, 0))  # BGR planes -> RGB pixels


def datum_vector(datum, where: str) -> np.ndarray:
    """The float32 label vector of a label datum (``float_data``), checked finite."""
    vector = np.array(datum.float_data, np.float32)
    if vector.size == 0:
        raise DatasetError(f"{where}: no label vector (float_data is empty)")
    if not np.isfinite(vector).all():
        raise DatasetError(f"{where}: label vector {vector.tolist()} is not finite")
    return vector


def read_pair(images: Path, labels: Path) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(key, pixels, label vector) of every image record in key order; a key missing
    from either database is an error naming the database and the key."""
    with _open(images) as image_env, _open(labels) as label_env:
        with image_env.begin() as image_txn, label_env.begin() as label_txn:
            if image_txn.stat()["entries"] == 0:
                raise DatasetError(f"{images}: no records")
            for raw_key, value in image_txn.cursor():
                key = raw_key.decode("utf-8", "backslashreplace")
                label = label_txn.get(raw_key)
                if label is None:
                    raise DatasetError(f"{labels}: key {key!r} (an image in {images}) is missing")
                pixels = datum_pixels(_datum(value, f"{images}: key {key!r}"), f"{images}: key {key!r}")
                yield key, pixels, datum_vector(_datum(label, f"{labels}: key {key!r}"), f"{labels}: key {key!r}")
            if label_txn.stat()["entries"] > image_txn.stat()["entries"]:
                extra = next(k for k in label_txn.cursor().iternext(values=False) if image_txn.get(k) is None)
                key = extra.decode("utf-8", "backslashreplace")
                raise DatasetError(f"{labels}: key {key!r} has no image in {images}")


def _check_names(names: Sequence[str]) -> None:
    bad = [n for n in names if not n or n != n.strip() or n in ("fname", "is_valid")]
    if bad or len(set(names)) != len(names):
        raise UsageError(f"value names must be distinct, non-empty, unpadded and not fname or is_valid; "
                         f"got {list(names)}", setting="names")


def import_digits(train: Pair, valid: Pair | None, out: str | Path,
                  names: Sequence[str] | None = None) -> tuple[int, int, list[str]]:
    """Write ``out/labels.csv`` and ``out/images/`` from the training (images, labels) LMDB
    pair and the optional validation pair; ``names`` name the values (default v0, v1,
    ...). ``out`` must be new or empty; a failed import removes what it wrote there.
    Returns (train count, valid count, names)."""
    if names is not None:
        _check_names(names)
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out}: exists and is not an empty folder", setting="out")
    out.parent.mkdir(parents=True, exist_ok=True)
    # written beside OUT and renamed onto it at the end: a failure, even a crash, never
    # leaves a partial OUT that blocks the next run
    work = out.parent / f".{out.name}.{os.getpid()}.tmp"  # a leftover of this pid is a dead process's
    shutil.rmtree(work, ignore_errors=True)
    try:
        (work / "images").mkdir(parents=True)
        counts = _write(train, valid, work, names)
        os.replace(work, out)  # onto an empty folder too
        return counts
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _write(train: Pair, valid: Pair | None, out: Path, names: Sequence[str] | None) -> tuple[int, int, list[str]]:
    rows: list[list[str]] = []
    counts = [0, 0]
    for phase, pair in enumerate((train, valid)):
        if pair is None:
            continue
        images, labels = (Path(p).expanduser() for p in pair)
        for key, pixels, vector in read_pair(images, labels):
            if names is None:
                names = [f"v{i}" for i in range(vector.size)]
            if vector.size != len(names):
                raise DatasetError(f"{labels}: key {key!r}: label vector of {vector.size} values, "
                                   f"expected {len(names)} ({', '.join(names)})")
            fname = f"{('train', 'val')[phase]}_{counts[phase]:06d}.png"
            Image.fromarray(pixels).save(out / "images" / fname, format="PNG")
            rows.append([fname, *(str(v) for v in vector), *([str(phase == 1)] if valid else [])])
            counts[phase] += 1
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([["fname", *names, *(["is_valid"] if valid else [])], *rows])
    return counts[0], counts[1], list(names)


def get_args_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog=f"python -m {PROG}",
        usage=f"python -m {PROG} TRAIN_IMAGES TRAIN_LABELS [VAL_IMAGES VAL_LABELS] OUT [--names N0,N1,...]",
        description="Import a DIGITS generic dataset (LMDB pairs of Caffe Datum records, images and label "
                    "vectors) as OUT/labels.csv and OUT/images/*.png, the layout --task regression reads.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="the training LMDB pair, optionally the validation pair, then the new folder OUT")
    p.add_argument("--names", type=lambda text: text.split(","), default=None,
                   help="comma-separated names of the label values (default v0,v1,...), e.g. gx,gy")
    return p


def main(args: argparse.Namespace) -> int:
    paths = args.paths
    if len(paths) not in (3, 5):
        raise UsageError(f"expected TRAIN_IMAGES TRAIN_LABELS [VAL_IMAGES VAL_LABELS] OUT, got {len(paths)} paths")
    valid = (paths[2], paths[3]) if len(paths) == 5 else None
    n_train, n_valid, names = import_digits((paths[0], paths[1]), valid, paths[-1], args.names)
    print(f"imported {n_train} training and {n_valid} validation records ({', '.join(names)}) to {paths[-1]}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    return run_cli(PROG, main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
