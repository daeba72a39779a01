"""The decoders under fuzzing (support/fuzz.py): seeded mutations of JPEGs and PNGs run
through fastkp-infer, fastkp._verify.verify_images and python -m fastkp.predict. No
file may crash or hang any of them, and each refuses exactly the files fastkp-infer
refuses: one policy. ``pytest -s`` prints the counts."""

from __future__ import annotations

import subprocess

import pytest

import fastkp._verify
from fastkp.export import ExportError, export_checkpoint, load
from support.fuzz import (count, damaged_libraries, format_table, infer_outcomes, make_corpus, predict_outcomes,
                          pt2_package, verify_outcomes)
from support.images import random_pixels, write_ppm
from support.infer import INFER
from support.models import make_checkpoint


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-model")
    export_checkpoint(make_checkpoint(d / "kp.pth", True), d / "kp.pt")
    return d / "kp.pt"


def fuzz(model, folder, seed: int, per_category: int) -> None:
    corpus = make_corpus(folder, seed, per_category)
    files = list(corpus)
    outcomes = {"fastkp-infer": infer_outcomes(model, files), "verify_images": verify_outcomes(files),
                "fastkp.predict": predict_outcomes(model, files)}
    print(f"\n{len(files)} mutated files (seed {seed})\n"
          + format_table({name: count(corpus, o) for name, o in outcomes.items()}))
    for name, o in outcomes.items():
        crashed = [str(p) for p, v in o.items() if v == "crashed"]
        assert not crashed, f"{name} crashed on {len(crashed)} files: {crashed[:5]}"
        differ = [str(p) for p in files if o[p] != outcomes["fastkp-infer"][p]]
        assert not differ, f"{name} and fastkp-infer disagree on {len(differ)} files: {differ[:5]}"


def test_fuzz_decoders(model, tmp_path):
    fuzz(model, tmp_path, seed=0, per_category=30)  # 330 files


@pytest.mark.slow
def test_fuzz_decoders_large(model, tmp_path):
    fuzz(model, tmp_path, seed=1, per_category=2000)  # 22,000 files


def test_fuzz_pt2_libraries(tmp_path, monkeypatch):
    """Damaged compiled libraries in crafted pt2 packages: fastkp-infer and fastkp.export.load
    refuse every one in one line, in the same words, before the loader maps it (a SIGBUS
    before), and leave no extraction folder."""
    with open(fastkp._verify.__file__, "rb") as f:
        libraries = damaged_libraries(f.read(), seed=0, n=10)
    image = write_ppm(tmp_path / "a.ppm", random_pixels(8, 8))
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    for name, library in libraries.items():
        path = pt2_package(tmp_path / f"{name}.pt2", library)
        proc = subprocess.run([str(INFER), str(path), str(image)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, (name, proc.returncode, proc.stderr)
        with pytest.raises(ExportError) as refused:
            load(path)
        assert proc.stderr == f"fastkp-infer: {refused.value}\n" and "is truncated or damaged" in proc.stderr, name
    assert list(temp.iterdir()) == []
