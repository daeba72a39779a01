"""DeepLabCut's CollectedData .h5: the same samples as the CSV, the missing-extra message,
and crafted files (pickles, links, bombs, bad rows, multi-animal) refused without running code."""

from __future__ import annotations

import logging
import os
import pickle
import sys

import numpy as np
import pytest

from fastkp.data import DatasetError
from fastkp.data.dlc import load_dlc
from fastkp.data.dlc_h5 import read_h5
from fastkp.data.synth.dlc import H5_KEY
from support.keypoints import N, _all

pd = pytest.importorskip("pandas")
tables = pytest.importorskip("tables")


def _h5(root, video: int = 1):
    return root / "labeled-data" / f"video{video}" / "CollectedData_synth.h5"


def _csv_free(root):
    for path in (root / "labeled-data").glob("*/CollectedData_*.csv"):
        path.unlink()
    return root


def _same(a, b) -> None:
    assert a.meta == b.meta and [s.path for s in _all(a)] == [s.path for s in _all(b)]
    for x, y in zip(_all(a), _all(b)):
        assert x.size == y.size
        for field in ("keypoints", "visibility", "box"):
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field))


def test_h5_gives_the_csvs_samples(copy):
    root = copy("dlc")
    from_csv = load_dlc(root)
    (root / "labeled-data" / "video2" / "CollectedData_synth.csv").unlink()  # one folder of each
    _same(load_dlc(root), from_csv)
    _same(load_dlc(_csv_free(root)), from_csv)
    index = pd.read_hdf(_h5(root)).index
    assert isinstance(index, pd.MultiIndex) and not isinstance(pd.read_hdf(_h5(root, 2)).index, pd.MultiIndex)


@pytest.mark.parametrize("module", ["pandas", "tables"])
def test_h5_without_the_extra_says_how_to_install_it(copy, monkeypatch, module):
    root = _csv_free(copy("dlc"))
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(DatasetError, match=rf"^{_h5(root)}: reading DeepLabCut .h5 files needs pandas and PyTables "
                                           rf"\({module} is missing\): pip install 'fastkp\[dlc\]', or keep the CSV"):
        load_dlc(root)


class _Payload:
    """Unpickling this makes the folder ``marker``: proof that a pickle ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_pickled_attributes_do_not_run(copy, tmp_path):
    root = _csv_free(copy("dlc"))
    marker = str(tmp_path / "ran")
    with tables.open_file(_h5(root), "a") as f:
        f.get_node(f"/{H5_KEY}")._f_setattr("extra", np.bytes_(pickle.dumps(_Payload(marker), protocol=0)))
    pd.read_hdf(_h5(root))
    assert os.path.isdir(marker)  # pandas alone runs it
    os.rmdir(marker)
    assert len(_all(load_dlc(root))) == N and not os.path.exists(marker)


def test_pickled_objects_and_links_are_refused(copy, tmp_path):
    root = _csv_free(copy("dlc"))
    marker = str(tmp_path / "ran")
    with tables.open_file(_h5(root), "a") as f:
        f.remove_node(f"/{H5_KEY}/block0_values")
        f.create_vlarray(f"/{H5_KEY}", "block0_values", tables.ObjectAtom()).append(_Payload(marker))
    with tables.open_file(_h5(root, 2), "a") as f:
        f.create_soft_link("/", "elsewhere", f"/{H5_KEY}")
        f.create_external_link("/", "outside", "/etc/passwd:/x")
    with pytest.raises(DatasetError, match=rf"^{_h5(root)}: /{H5_KEY}/block0_values \(VLArray\): only groups, plain "
                                           "arrays and tables are read"):
        load_dlc(root)
    _h5(root).unlink()
    link = r"video2/CollectedData_synth.h5: /(elsewhere|outside) \((Soft|External)Link\)"
    with pytest.raises(DatasetError, match=link):
        load_dlc(root)
    assert not os.path.exists(marker)


def test_h5_size_bounds(copy, tmp_path):
    root = _csv_free(copy("dlc"))
    with pytest.raises(DatasetError, match="HDF5 file of .* bytes is over the limit of 100"):
        read_h5(_h5(root), limit=100)
    bomb = tmp_path / "bomb.h5"
    pd.DataFrame(np.zeros((200_000, 4))).to_hdf(bomb, key="df", mode="w", complevel=9, complib="zlib")
    with pytest.raises(DatasetError, match=r"bomb.h5: 8,0\d\d,\d{3} bytes of data, over the limit of 1,000,000"):
        read_h5(bomb, limit=1_000_000)
    bomb.write_bytes(b"not HDF5")
    with pytest.raises(DatasetError, match=r"bomb.h5: not an HDF5 file pandas can open"):
        read_h5(bomb)


def _edit(root, change) -> None:
    """Rewrite video1's table as DeepLabCut would, after ``change(df)``."""
    df = pd.read_hdf(_h5(root))
    change(df)
    df.to_hdf(_h5(root), key=H5_KEY, mode="w")


def test_h5_bad_rows_name_the_file_and_row(copy, caplog):
    root = _csv_free(copy("dlc"))
    _edit(root, lambda df: df.iloc.__setitem__((1, 2), np.inf))
    with pytest.raises(DatasetError, match=r"CollectedData_synth.h5: row 2: leftear x: inf is out of range"):
        load_dlc(root)
    _edit(root, lambda df: df.iloc.__setitem__((3, 1), np.nan))
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        assert len(_all(load_dlc(root, on_error="skip"))) == N - 2
    assert "row 4: snout: only one of x, y is given" in caplog.records[0].getMessage()


def test_h5_multi_animal_and_other_tables_are_refused(copy):
    root = _csv_free(copy("dlc"))
    df = pd.read_hdf(_h5(root))
    columns = pd.MultiIndex.from_tuples([(s, "mouse1", p, c) for s, p, c in df.columns],
                                        names=["scorer", "individuals", "bodyparts", "coords"])
    pd.DataFrame(df.to_numpy(), index=df.index, columns=columns).to_hdf(_h5(root), key=H5_KEY, mode="w")
    with pytest.raises(DatasetError, match="columns with an individuals level: a multi-animal project"):
        load_dlc(root)
    pd.DataFrame(df.to_numpy(), index=df.index).to_hdf(_h5(root), key=H5_KEY, mode="w")
    with pytest.raises(DatasetError, match=r"expected three column levels \(scorer, bodyparts, coords\), got 1"):
        load_dlc(root)
    df.astype(bool).to_hdf(_h5(root), key=H5_KEY, mode="w")
    with pytest.raises(DatasetError, match=r"the coordinates must be numbers, got the types \['bool'\]"):
        load_dlc(root)
    df.astype(str).to_hdf(_h5(root), key=H5_KEY, mode="w")  # text needs pickled objects: refused
    with pytest.raises(DatasetError, match=r"block0_values \(VLArray\): only groups, plain arrays and tables"):
        load_dlc(root)
    with pd.HDFStore(_h5(root), mode="w") as store:
        store.put("a", df, track_times=False)
        store.put("b", df, track_times=False)
    with pytest.raises(DatasetError, match="cannot read the DataFrame .*key must be provided"):
        load_dlc(root)
