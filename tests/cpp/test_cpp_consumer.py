"""examples/cpp_consumer: another CMake project finds the installed fastkp with
find_package(fastkp), links fastkp::infer, and answers as fastkp-infer does."""

from __future__ import annotations

import subprocess
import sysconfig
from pathlib import Path

import numpy as np

from fastkp.export import cmake_prefix_path, export_checkpoint
from support.images import random_pixels, write_jpeg
from support.infer import json_lines, run_infer
from support.models import make_checkpoint

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cpp_consumer"
SCRIPTS = Path(sysconfig.get_path("scripts"))


def run(*cmd: str | Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_consumer_example_builds_and_runs(tmp_path):
    build = tmp_path / "build"
    run(SCRIPTS / "cmake", "-S", EXAMPLE, "-B", build, "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={SCRIPTS / 'ninja'}",
        "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={cmake_prefix_path()}")
    run(SCRIPTS / "cmake", "--build", build)
    model = tmp_path / "kp.pt"
    export_checkpoint(make_checkpoint(tmp_path / "kp.pth", True, size=(48, 64)), model)
    image = write_jpeg(tmp_path / "face.jpg", random_pixels(120, 90))
    proc = run(build / "describe_model", model, image)
    assert "resnet18 landmarks model (torchscript), network input 48x64, output keypoints" in proc.stderr
    (got,) = json_lines(proc.stdout)
    (want,) = json_lines(run_infer(model, image).stdout)
    assert got["image"] == want["image"] and (got["height"], got["width"]) == (120, 90)
    np.testing.assert_allclose(got["keypoints"], want["keypoints"], atol=1e-4)
