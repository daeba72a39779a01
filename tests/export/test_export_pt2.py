"""The pt2 format: torch.export + AOTInductor package, run from Python and from
fastkp-infer with the same answers as eager, metadata inside the package."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import tempfile
import zipfile

import numpy as np
import pytest
import torch
from torch.export.pt2_archive import PT2ArchiveReader

from fastkp.export import ExportError, deploy_module, export_checkpoint, load, read_metadata
from support.images import random_pixels, write_ppm
from support.infer import INFER, json_lines, run_infer
from support.model_files import rewrite_metadata
from support.models import make_checkpoint

SIZES = [(1, 1), (5, 3), (37, 81), (64, 64), (120, 97)]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """(checkpoint, pt2 package) of a keypoint model; one AOTInductor compile (~30-60 s here)."""
    d = tmp_path_factory.mktemp("pt2")
    ckpt = make_checkpoint(d / "kp.pth", True, size=(64, 64))
    export_checkpoint(ckpt, d / "kp.pt2", "pt2")
    return ckpt, d / "kp.pt2"


def test_pt2_matches_eager(package):
    ckpt, path = package
    eager, _, _ = deploy_module(ckpt)
    model = load(path)
    for n in (1, 3):
        for hw in SIZES:
            images = torch.from_numpy(np.stack([random_pixels(*hw, seed=i) for i in range(n)]))
            with torch.no_grad():
                want = eager(images)
            torch.testing.assert_close(model(images), want, atol=1e-3, rtol=0, msg=f"{n} images of {hw}")


def test_cpp_runs_the_package(package, tmp_path):
    ckpt, path = package
    eager, _, _ = deploy_module(ckpt)
    images = {hw: random_pixels(*hw, seed=7) for hw in SIZES}
    files = [write_ppm(tmp_path / f"{h}x{w}.ppm", px) for (h, w), px in images.items()]
    for record, pixels in zip(json_lines(run_infer(path, *files).stdout), images.values()):
        with torch.no_grad():
            want = eager(torch.from_numpy(pixels)[None])[0].numpy()
        np.testing.assert_allclose(record["keypoints"], want, atol=1e-3, rtol=0)


def test_pt2_metadata_round_trip(package):
    ckpt, path = package
    _, want, _ = deploy_module(ckpt, "pt2")
    meta = read_metadata(path)
    assert meta == want and meta.export_format == "pt2" and meta.device == "cpu"
    with PT2ArchiveReader(str(path)) as archive:  # a PT2 archive extra file
        assert json.loads(archive.read_string("extra/fastkp.json"))["format"] == "fastkp-model"
        wrappers = [n for n in archive.get_file_names() if n.endswith(".json") and "aotinductor" in n]
        # The fused operator is kept: AOTInductor's proxy executor calls torch.ops.fastkp.sigmoid_range.
        assert any("fastkp::sigmoid_range" in archive.read_string(n) for n in wrappers)


def test_pt2_for_another_device_is_refused(package, tmp_path):
    _, path = package
    meta = json.loads(zipfile.ZipFile(path).read(next(n for n in zipfile.ZipFile(path).namelist()
                                                       if n.endswith("extra/fastkp.json"))))
    cuda = rewrite_metadata(path, tmp_path / "cuda.pt2", json.dumps({**meta, "device": "cuda"}))
    with pytest.raises(ExportError, match="compiled for cuda, not cpu"):
        load(cuda)
    proc = run_infer(cuda, write_ppm(tmp_path / "x.ppm", random_pixels(8, 8)), check=False)
    assert proc.returncode == 2 and "compiled for cuda" in proc.stderr and str(cuda) in proc.stderr


def test_corrupt_package(package, tmp_path):
    _, path = package
    data = path.read_bytes()
    broken = tmp_path / "broken.pt2"
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(ExportError, match="broken.pt2"):
        load(broken)
    proc = run_infer(broken, write_ppm(tmp_path / "x.ppm", random_pixels(8, 8)), check=False)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and str(broken) in proc.stderr


def test_python_refuses_a_zip_slip_package(package, tmp_path):
    _, path = package
    target = tmp_path / "x.json"
    with zipfile.ZipFile(path) as zin:
        root = zin.namelist()[0].split("/", 1)[0]
    crafted = tmp_path / "slip.pt2"
    shutil.copy(path, crafted)
    depth = "../" * 8
    with zipfile.ZipFile(crafted, "a") as z:
        z.writestr(f"{root}/data/aotinductor/model/{depth}{str(target).lstrip('/')}", b"{}")
    with pytest.raises(ExportError, match="points outside the archive"):
        load(crafted)
    assert not target.exists()


def other_machine(path, out) -> None:
    """``path`` with its compiled libraries marked for another machine (ELF e_machine: ARM):
    whole and well-formed, so they pass the checks before loading, and the loader refuses them."""
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            zout.writestr(item, data[:18] + (40).to_bytes(2, "little") + data[20:] if item.filename.endswith(".so")
                          else data)


def test_a_failed_pt2_load_leaves_no_extraction_folder(package, tmp_path, monkeypatch):
    _, path = package
    broken = tmp_path / "broken.pt2"
    other_machine(path, broken)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(ExportError, match="cannot load the pt2 package"):
        load(broken)
    assert list(scratch.iterdir()) == []
    model = load(path)  # a good one keeps its folder while in use, and drops it when collected
    assert len(list(scratch.iterdir())) == 1
    del model
    gc.collect()
    assert list(scratch.iterdir()) == []


def infer_with_tmpdir(tmpdir, *args) -> subprocess.CompletedProcess:
    """fastkp-infer with TMPDIR=tmpdir, where the package loader extracts."""
    return subprocess.run([str(INFER), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TMPDIR": str(tmpdir)})


def test_cpp_refuses_a_zip_slip_package(package, tmp_path):
    """A real package plus an entry that climbs out of the extraction folder and out of
    TMPDIR (the loader extracts two levels below it; torch's loader wrote it there):
    refused before any extraction, and the file it names is not written."""
    _, path = package
    crafted, tmpdir = tmp_path / "slip.pt2", tmp_path / "a" / "b" / "tmp"
    tmpdir.mkdir(parents=True)
    shutil.copy(path, crafted)
    entry = "archive/data/aotinductor/model/" + "../" * 6 + "x.json"
    with zipfile.ZipFile(crafted, "a") as z:
        z.writestr(entry, b"{}")
    proc = infer_with_tmpdir(tmpdir, crafted, write_ppm(tmp_path / "x.ppm", random_pixels(8, 8)))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"fastkp-infer: {crafted}: entry '{entry}' points outside the archive; refusing the file\n"
    assert not list(tmp_path.rglob("x.json")) and not list(tmpdir.iterdir())


def test_cpp_removes_pt2_extraction_folders(package, tmp_path):
    """The ~50 MB the loader extracts are gone after a run, and after a load that fails
    (the compiled library replaced by garbage)."""
    _, path = package
    broken, tmpdir = tmp_path / "garbage-so.pt2", tmp_path / "tmp"
    tmpdir.mkdir()
    other_machine(path, broken)
    image = write_ppm(tmp_path / "x.ppm", random_pixels(8, 8))
    assert infer_with_tmpdir(tmpdir, path, image).returncode == 0
    assert not list(tmpdir.iterdir())
    proc = infer_with_tmpdir(tmpdir, broken, image)
    assert proc.returncode == 2 and proc.stderr.startswith(f"fastkp-infer: {broken}: cannot load the pt2 model (")
    assert len(proc.stderr.splitlines()) == 1 and not list(tmpdir.iterdir())
