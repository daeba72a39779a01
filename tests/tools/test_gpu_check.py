"""tools/gpu_check.sh without a GPU: the dry run's step list and files, argument errors
and exit codes (0 for a run, 2 for bad usage), as CI runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gpu_check.sh"
STEPS = ["environment", "build", "import", "export", "tests", "dali_loader", "ops", "train", "deploy"]


def gpu_check(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_dry_run_lists_the_steps_and_writes_the_plan(tmp_path):
    out = tmp_path / "out"
    proc = gpu_check("--dry-run", "--budget", "240", out, cwd=tmp_path)  # from any folder
    assert proc.returncode == 0, proc.stderr
    listed = [line.split(".", 1)[1].split(":", 1)[0].split(" (")[0].strip()
              for line in proc.stdout.splitlines() if line[:1].isdigit()]
    assert listed == STEPS
    assert "budget 240 s" in proc.stdout and proc.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "gpu_check.md"]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["dry_run"] and report["budget_s"] == 240 and "missing_files" not in report
    assert [s["name"] for s in report["steps"]] == STEPS
    assert {s["status"] for s in report["steps"]} == {"planned"}
    assert all(s["commands"] for s in report["steps"])
    md = (out / "gpu_check.md").read_text()
    assert all(f"| {name} | planned |" in md for name in STEPS)


@pytest.mark.parametrize("args, message", [
    ([], "the following arguments are required: OUT"),
    (["--dry-run"], "the following arguments are required: OUT"),
    (["--bogus", "out"], "unrecognized arguments: --bogus"),
    (["out", "more"], "unrecognized arguments: more"),
    (["--budget", "0", "out"], "--budget must be positive"),
    (["--budget", "soon", "out"], "invalid float value"),
    (["afile"], "exists and is not a folder"),
])
def test_bad_usage_exits_2(tmp_path, args, message):
    (tmp_path / "afile").write_text("")
    proc = gpu_check(*args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and "usage:" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_make_target(tmp_path):
    proc = subprocess.run(["make", "-s", "gpu-check", f"OUT={tmp_path}", "GPU_CHECK_ARGS=--dry-run"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "gpu_check.json").exists()
