"""DeepLabCut's ``CollectedData_*.h5``, read where a video folder has no CSV: the DataFrame
DeepLabCut saves with ``DataFrame.to_hdf`` (columns scorer/bodyparts/coords, an index of
frame paths, one string or three parts), read with ``pandas.read_hdf`` (pandas and PyTables:
the optional extra ``fastkp[dlc]``).

The file is untrusted. It is read whole under the CSV's size bound and opened from memory.
PyTables unpickles attribute values (pandas' own are plain lists, dicts and None) and object
arrays: attributes are decoded here by an unpickler that refuses every global (so no code
runs), and a file holding anything but groups, plain arrays and tables (object arrays of
pickled Python objects, links) or more data than the bound is refused before pandas reads it.
"""

from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .dlc_config import MULTI_ANIMAL
from .sample import DatasetError
from .textio import MAX_BYTES, read_bounded

EXTRA = "pip install 'fastkp[dlc]'"
_LOCK = threading.Lock()  # one reader at a time swaps PyTables' unpickler


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"pickled global {module}.{name} refused")


def _plain_loads(data: bytes, **kwargs: object) -> object:
    return _NoGlobals(io.BytesIO(data), **kwargs).load()


_PLAIN_PICKLE = SimpleNamespace(**{**vars(pickle), "loads": _plain_loads})


@contextmanager
def _bad_data(path: Path, what: str, detail: bool = True) -> Iterator[None]:
    """Any failure inside, of a crafted or damaged file, as a DatasetError naming ``path``
    (with the error's first line where ``detail``: HDF5's own say only "back trace")."""
    try:
        yield
    except DatasetError:
        raise
    except Exception as err:  # noqa: BLE001 - PyTables and pandas raise many kinds on bad files
        first = f": {str(err).splitlines()[0]}" if detail and str(err) else ""
        raise DatasetError(f"{path}: {what} ({type(err).__name__}{first})") from None


def _check_nodes(store: object, tables: object, path: Path, limit: int) -> None:
    """Only groups, plain arrays and tables, holding at most ``limit`` bytes in all."""
    size = 0
    for node in store.get_node("/")._f_walknodes():
        if isinstance(node, tables.Group):
            continue
        if not isinstance(node, (tables.Array, tables.Table)):
            raise DatasetError(f"{path}: {node._v_pathname} ({type(node).__name__}): only groups, plain arrays "
                               "and tables are read (no pickled Python objects or links)")
        size += node.size_in_memory
    if size > limit:
        raise DatasetError(f"{path}: {size:,} bytes of data, over the limit of {limit:,}")


def _frame(path: Path, limit: int) -> object:
    """What ``pandas.read_hdf`` reads from ``path``'s bytes, attributes unpickled without globals."""
    try:
        import pandas as pd
        import tables
        import tables.attributeset as attributeset
    except ImportError as err:
        raise DatasetError(f"{path}: reading DeepLabCut .h5 files needs pandas and PyTables ({err.name} is "
                           f"missing): {EXTRA}, or keep the CSV DeepLabCut writes beside it") from None
    data = read_bounded(path, "HDF5 file", limit)
    with _LOCK:
        real, attributeset.pickle = attributeset.pickle, _PLAIN_PICKLE
        try:
            with _bad_data(path, "not an HDF5 file pandas can open", detail=False):
                # HDF5 refuses an image under the name of a file that exists: a name below the file
                store = pd.HDFStore(f"{path}/in-memory", mode="r", driver="H5FD_CORE", driver_core_image=data,
                                    driver_core_backing_store=0)
            with store, _bad_data(path, "cannot read the DataFrame"):
                _check_nodes(store, tables, path, limit)
                return pd.read_hdf(store)
        finally:
            attributeset.pickle = real


def _names(columns: object, path: Path) -> list[str]:
    """Body part names from the (scorer, bodyparts, coords) column levels."""
    levels = getattr(columns, "nlevels", 1)
    if levels == 4 or "individuals" in (getattr(columns, "names", None) or []):
        raise DatasetError(f"{path}: columns with an individuals level: {MULTI_ANIMAL}")
    if levels != 3:
        raise DatasetError(f"{path}: expected three column levels (scorer, bodyparts, coords), got {levels}")
    keys = list(columns)
    if not keys or len(keys) % 2:
        raise DatasetError(f"{path}: expected x,y column pairs, got {len(keys)} columns")
    names = []
    for j in range(0, len(keys), 2):
        (s0, p0, c0), (s1, p1, c1) = keys[j], keys[j + 1]
        if not all(isinstance(v, str) for v in (s0, p0, c0, s1, p1, c1)):
            raise DatasetError(f"{path}: column {j + 1}: column names must be text, got {keys[j]!r}")
        if (c0.strip(), c1.strip()) != ("x", "y"):
            raise DatasetError(f"{path}: columns {j + 1},{j + 2} must be x,y, got {c0!r},{c1!r}")
        if not p0.strip() or p1.strip() != p0.strip() or not s0.strip() or not s1.strip():
            raise DatasetError(f"{path}: columns {j + 1},{j + 2} must name one body part and a scorer")
        names.append(p0.strip())
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise DatasetError(f"{path}: body part(s) {twice} given twice")
    return names


def read_h5(path: Path, limit: int = MAX_BYTES) -> tuple[list[str], list[tuple[str, list[str], np.ndarray]]]:
    """Body part names and each row (where, index parts, (2K,) float64 values, NaN where
    unlabelled) of a CollectedData .h5 file; the rows are checked as the CSV's are."""
    df = _frame(path, limit)
    if not hasattr(df, "columns"):
        raise DatasetError(f"{path}: holds a {type(df).__name__}, not DeepLabCut's DataFrame")
    names = _names(df.columns, path)
    if not all(dtype.kind in "fiu" for dtype in df.dtypes):
        raise DatasetError(f"{path}: the coordinates must be numbers, got the types {sorted(set(map(str, df.dtypes)))}")
    values = df.to_numpy(np.float64)
    rows = []
    for i, key in enumerate(df.index):
        parts = list(key) if isinstance(key, tuple) else [key]
        if not all(isinstance(p, str) for p in parts):
            raise DatasetError(f"{path}: row {i + 1}: the index must be frame paths, got {key!r}")
        rows.append((f"row {i + 1}", parts, values[i]))
    return names, rows
