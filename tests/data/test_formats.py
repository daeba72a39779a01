"""The format registry: every registered format reads its synthetic set into a Dataset
named after it, an unknown name is refused naming the choices, and the synthetic-set
command line dispatches every kind through its one table."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

from fastkp.data import Dataset, ReadOptions, formats, synth
from fastkp.data.synth import __main__ as synth_cli
from fastkp.data.synth.coco import make_coco
from fastkp.data.synth.dlc import make_dlc
from fastkp.data.synth.w300 import make_300w
from fastkp.data.synth.yolo import make_yolo
from fastkp.errors import UsageError
from fastkp.tasks import TASKS

SIZE = (48, 64)
WRITE = {  # (target, format) -> writes the synthetic set, returns what --data names
    ("biwi", "default"): lambda root: synth.make_biwi(root, persons=2, frames_per_person=2, size=SIZE),
    ("pascal", "default"): lambda root: synth.make_pascal(root, 6, size=SIZE),
    ("keypoints", "csv"): lambda root: synth.make_landmarks(root, 6, size=SIZE),
    ("keypoints", "300w"): lambda root: make_300w(root, 6, size=SIZE),
    ("keypoints", "coco"): lambda root: make_coco(root, 6, size=SIZE),
    ("keypoints", "dlc"): lambda root: make_dlc(root, 6, size=SIZE),
    ("keypoints", "yolo"): lambda root: make_yolo(root, 6, size=SIZE) / "data.yaml",
    ("values", "default"): lambda root: synth.make_regression(root, 6, size=SIZE),
    ("agegender", "utkface"): lambda root: synth.make_agegender(root, 6, size=SIZE),
    ("agegender", "csv"): lambda root: synth.make_agegender(root, 6, size=SIZE, format="csv"),
    ("classes", "folders"): lambda root: synth.make_classify(root, 8, size=SIZE, classes=2),
    ("classes", "csv"): lambda root: synth.make_classify(root, 8, size=SIZE, classes=2, format="csv"),
}


def test_every_format_has_a_synthetic_set():
    assert {(f.target, f.name) for f in formats.registered()} == set(WRITE)


@pytest.mark.parametrize("key", list(WRITE), ids=lambda k: f"{k[0]}-{k[1]}")
def test_every_format_reads_its_synthetic_set_into_a_dataset_named_after_it(tmp_path, key):
    target, name = key
    d = formats.get(target, name).read(WRITE[key](tmp_path / "data"), ReadOptions(valid_frac=0.3, seed=1))
    assert isinstance(d, Dataset) and d.train and d.valid
    assert d.meta.format == name and d.meta.split
    boxed = [s.box is not None for s in (*d.train, *d.valid)]
    assert all(boxed) if d.meta.boxes else not any(boxed)
    if d.meta.flip_index is not None:
        assert sorted(d.meta.flip_index) == list(range(len(d.meta.point_names)))


def test_each_task_reads_its_targets_formats_and_defaults_to_the_first():
    for task in TASKS.values():
        assert task.formats == formats.formats_of(task.target) and task.formats
        assert task.format(None) == task.formats[0]
    assert TASKS["keypoints"].formats == ("csv", "300w", "coco", "dlc", "yolo")
    assert TASKS["keypoints"].box_formats == ("300w", "coco", "yolo")


def test_an_unknown_format_is_refused_naming_the_choices():
    with pytest.raises(UsageError, match=r"^keypoints data comes in the formats csv, 300w, coco, dlc, yolo, not 'x'$") \
            as info:
        formats.get("keypoints", "x")
    assert info.value.setting == "format"
    with pytest.raises(UsageError, match=r"^task agegender reads the formats utkface, csv, not 'folders'$") as info:
        TASKS["agegender"].format("folders")
    assert info.value.setting == "format"
    with pytest.raises(ValueError, match="registered twice"):
        formats.register(formats.get("biwi", "default"))


def _generators() -> set[str]:
    """The ``make_*`` function of every generator module in fastkp.data.synth."""
    names = set()
    for info in pkgutil.iter_modules(synth.__path__):
        module = importlib.import_module(f"fastkp.data.synth.{info.name}")
        names |= {n for n, f in vars(module).items()
                  if n.startswith("make_") and inspect.isfunction(f) and f.__module__ == module.__name__}
    return names


def test_the_synth_command_line_has_one_table_entry_per_generator(monkeypatch, tmp_path, capsys):
    seen: list[str] = []
    for name in _generators():  # raises if the command does not import a generator
        monkeypatch.setattr(synth_cli, name, lambda *a, _name=name, **k: seen.append(_name))
    parser = synth_cli.get_args_parser()
    called = {}
    for kind in synth_cli.KINDS:
        seen.clear()
        assert synth_cli.main(parser.parse_args([kind.name, str(tmp_path)])) == 0
        assert len(seen) == 1, (kind.name, seen)
        called[kind.name] = seen[0]
    assert sorted(called.values()) == sorted(_generators())  # each generator, once
    assert capsys.readouterr().out.count("wrote a synthetic") == len(synth_cli.KINDS)


def test_nothing_outside_the_data_package_imports_its_private_modules():
    root = Path(__file__).resolve().parents[2]
    private = re.compile(r"\bdata" + r"\._|\b_keypoints\b")  # split so that this file does not match itself
    files = [p for folder in ("python/fastkp", "benchmarks", "tools", "tests") for p in (root / folder).rglob("*.py")
             if "python/fastkp/data/" not in p.as_posix()]
    assert len(files) > 100
    found = [f"{p.relative_to(root)}:{n}" for p in files
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if private.search(line)]
    assert not found
