"""Single-label readers: folder per class (valid/ or val/) and fname,label CSV, the
vocabulary, classes only in validation, empty class folders, and the classify generator."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from fastkp.data import DatasetError, load_class_folders, load_classes, load_classes_csv
from fastkp.data.synth import make_classify
from fastkp.data.synth.__main__ import cli
from fastkp.data.synth.classify import CLASS_NAMES, class_names
from fastkp.errors import UsageError
from support.tables import append_row, edit_field, files, raises_then_skips, read_rows, write_rows

N, K = 20, 4


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cls")
    return {f: make_classify(base / f, N, seed=6, size=(32, 32), classes=K, format=f) for f in ("folders", "csv")}


@pytest.fixture
def copies(made, tmp_path) -> dict[str, Path]:
    """Function-scoped copies of both formats, for the tests that damage them."""
    return {f: Path(shutil.copytree(root, tmp_path / f)) for f, root in made.items()}


def test_folders_vocabulary_and_labels(made):
    d = load_classes(made["folders"])
    train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    assert vocab == sorted(class_names(K)) and (len(train), len(valid)) == (16, 4)
    for split, folder in ((train, "train"), (valid, "valid")):
        for s in split:
            assert Path(s.path).parent.parent.name == folder and vocab[s.label] == Path(s.path).parent.name
            assert s.size == (32, 32) and s.values is None and s.labels is None
    assert {s.label for s in valid} == set(range(K))


def test_both_formats_give_the_same_samples(made):
    by_format = [load_classes(made[f], format=f) for f in ("folders", "csv")]
    (ft, fv, f_vocab), (ct, cv, c_vocab) = ((d.train, d.valid, list(d.meta.vocab)) for d in by_format)
    assert f_vocab == c_vocab
    for a, b in ((ft, ct), (fv, cv)):
        assert sorted((Path(s.path).name, s.label) for s in a) == sorted((Path(s.path).name, s.label) for s in b)


def test_class_names_are_distinct_pairs():
    assert len(set(CLASS_NAMES)) == 20 and len({n.split("_")[0] for n in class_names(5)}) == 4
    with pytest.raises(ValueError, match="classes"):
        class_names(21)


def test_val_folder_hidden_entries_and_tilde(copies, monkeypatch):
    folders = copies["folders"]
    (folders / "valid").rename(folders / "val")
    (folders / "train" / ".ipynb_checkpoints").mkdir()
    (folders / "train" / "notes.txt").write_text("a stray file")
    (folders / "val" / CLASS_NAMES[0] / "Thumbs.db").write_text("ignored")
    monkeypatch.setenv("HOME", str(folders.parent))
    d = load_class_folders("~/folders")
    train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    assert (len(train), len(valid), len(vocab)) == (16, 4, K) and "/val/" in valid[0].path


@pytest.mark.parametrize("which", ["none", "both"])
def test_exactly_one_validation_folder(copies, which):
    folders = copies["folders"]
    if which == "none":
        shutil.rmtree(folders / "valid")
    else:
        shutil.copytree(folders / "valid", folders / "val")
    with pytest.raises(DatasetError, match="neither valid/ nor val/" if which == "none" else "both valid/ and val/"):
        load_class_folders(folders, on_error="skip")


@pytest.mark.parametrize("split", ["train", "valid"])
def test_empty_class_folder(copies, split, caplog):
    folders = copies["folders"]
    (folders / split / "zebra").mkdir()
    with pytest.raises(DatasetError, match=f"{split}/zebra: empty class folder"):
        load_class_folders(folders)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_class_folders(folders, on_error="skip")
        train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    assert "zebra" not in vocab and len(train) + len(valid) == N and "skipped 1 bad sample" in caplog.text


def test_class_only_in_validation_folder(copies, caplog):
    folders = copies["folders"]
    cls = class_names(K)[1]
    shutil.copytree(folders / "valid" / cls, folders / "valid" / "zebra")
    with pytest.raises(DatasetError, match="class 'zebra' is only in the validation split"):
        load_class_folders(folders)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_class_folders(folders, on_error="skip")
        train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    assert len(valid) == 4 and "zebra" in caplog.text and "zebra" not in vocab


def test_unreadable_image_and_dataset_level_problems(copies, tmp_path):
    folders = copies["folders"]
    bad = next((folders / "train" / class_names(K)[0]).iterdir())
    bad.write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=bad.name):
        load_class_folders(folders)
    assert len(load_class_folders(folders, on_error="skip").train) == 15
    with pytest.raises(DatasetError, match="not a directory"):
        load_class_folders(tmp_path / "nowhere")
    (tmp_path / "flat" / "valid").mkdir(parents=True)
    with pytest.raises(DatasetError, match="train: missing folder"):
        load_class_folders(tmp_path / "flat")
    (tmp_path / "flat" / "train").mkdir()
    with pytest.raises(DatasetError, match="train: no class folders"):
        load_class_folders(tmp_path / "flat")
    with pytest.raises(UsageError, match="classify format"):
        load_classes(folders, format="imagenet")


# ---- CSV ---------------------------------------------------------------------------------------


def test_csv_without_is_valid_uses_the_default_split(copies):
    table = copies["csv"]
    write_rows(table, [["label", "fname"]] + [[r[1], r[0]] for r in read_rows(table)[1:]])
    d = load_classes_csv(table, valid_frac=0.25, seed=1)
    train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    assert (len(train), len(valid)) == (15, 5) and vocab == sorted(class_names(K))


BAD_ROWS = {
    "class only in validation": edit_field(6, 1, "zebra", "class 'zebra'"),  # line 6 is a validation row
    "empty label": edit_field(3, 1, " "),
    "unknown is_valid": edit_field(3, 2, "maybe"),
    "listed twice": append_row(lambda rows: [*rows[1][:2], "False"]),
    "in both splits": append_row(lambda rows: [*rows[1][:2], "True"],
                                 "00001.jpg is also on line 2, in the other split"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_csv_row_raises_or_is_skipped(copies, case, caplog):
    table = copies["csv"]
    d = raises_then_skips(load_classes_csv, table, BAD_ROWS[case](table), caplog)
    train, valid = d.train, d.valid
    assert len(train) + len(valid) == N - (case in ("class only in validation", "empty label", "unknown is_valid"))


def test_validation_of_unknown_classes_only(copies):
    table = copies["csv"]
    rows = read_rows(table)
    write_rows(table, rows[:1] + [[r[0], "zebra", r[2]] if r[2] == "True" else r for r in rows[1:]])
    with pytest.raises(DatasetError, match="empty validation split"):
        load_classes_csv(table, on_error="skip")


def test_same_seed_same_bytes_and_cli(tmp_path, capsys):
    for format in ("folders", "csv"):
        a, b, c = (files(make_classify(tmp_path / f"{format}{n}", 4, seed=s, size=(16, 16), classes=2, format=format))
                   for n, s in (("a", 1), ("b", 1), ("c", 2)))  # fmt: skip
        assert a == b and a != c
    assert cli(["classify", str(tmp_path / "cli"), "--n", "4", "--size", "16x16", "--seed", "1", "--classes", "2"]) == 0
    assert files(tmp_path / "cli") == files(tmp_path / "foldersa")
    capsys.readouterr()
    assert cli(["classify", str(tmp_path / "few"), "--n", "5", "--classes", "3"]) == 2
    assert "5 images are too few for 3 classes" in capsys.readouterr().err and not (tmp_path / "few").exists()
