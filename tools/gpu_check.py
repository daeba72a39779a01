"""tools/gpu_check.sh [--dry-run] [--budget SECONDS] OUT

The proof that fastkp's CUDA paths work, in one command, for a GPU machine that is
bare and offline (torch with CUDA, CMake, nvcc and pytest installed; no pip, no
venv, no DALI). From a clean copy of the repository it:

  builds the operator library, the Python module and fastkp-infer with CMake
  against the torch installed there, for the present GPU's architecture only;
  runs every test marked `cuda` (the CPU/CUDA agreement tests among them);
  measures the fused operators (fwd+bwd against eager and torch.compile), a
  ResNet-18 training step (fp32 / channels_last fp16 / bf16) and the exported
  models against eager, TorchScript and pt2 in Python and in fastkp-infer.

OUT/gpu_check.json and OUT/gpu_check.md are rewritten after every step (with
build.log, tests.log and bench.log beside them: 5 files), so a run cut short still
returns what it measured. A failed step is reported and the run goes on; what
cannot run is reported as skipped with the reason; steps still to come when the
time budget (default 300 s) is spent are skipped. Exit status: 0 whatever the
steps did, 2 for bad usage. --dry-run checks the arguments and the files the steps
need, prints the steps with their commands and writes the plan to OUT: no build,
no GPU, a second or two.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
LOGS = ("build.log", "tests.log", "bench.log")
LOG_LIMIT = 4 << 20  # bytes kept of each log (the newest)
DALI_TESTS = "tests/pipeline/test_pipeline_loaders.py"  # the DALI loader's CUDA tests
INFER_TESTS = "tests/cpp/test_cpp_infer.py"  # need the fastkp-infer program
INFER_HEADERS = ("jpeglib.h", "png.h")  # fastkp-infer decodes with libjpeg-turbo and libpng
NEEDED = ("CMakeLists.txt", "python/fastkp/__init__.py", "tests/conftest.py", "tests/support/models.py",
          "benchmarks/bench_ops.py", "benchmarks/conftest.py", "tools/gpu_bench.py", DALI_TESTS)


def describe(cmd: list[str]) -> str:
    """A command in a few words: the program and the first line of its first two arguments."""
    return " ".join([Path(cmd[0]).name, *(a.strip().splitlines()[0][:60] for a in cmd[1:3] if a.strip())]) + " ..."


class Skipped(Exception):
    """The step cannot run here; the message says why."""


class Failed(Exception):
    """The step ran and failed; the message says how."""


@dataclass
class Step:
    name: str
    title: str
    limit: int  # seconds at most
    run: Callable[[Check], dict]
    background: bool = False  # runs while the next steps do (never during a measurement)
    measures: bool = False  # waits for background steps, so nothing else competes for the machine
    commands: tuple[str, ...] = ()  # what it runs, for --dry-run


@dataclass
class Check:
    out: Path
    budget: float
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fastkp-gpu-check-")))
    python: str = sys.executable
    started: float = field(default_factory=time.monotonic)
    facts: dict = field(default_factory=dict)  # what steps found out, for later steps
    report: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    step: threading.local = field(default_factory=threading.local)  # .deadline of the running step

    @property
    def left(self) -> float:
        """Seconds left to the running step (its own limit, or the run's budget)."""
        return min(self.started + self.budget, getattr(self.step, "deadline", float("inf"))) - time.monotonic()

    @property
    def env(self) -> dict:
        """The environment of every command: `import fastkp` finds the staged build."""
        stage = self.facts.get("stage")
        path = [str(stage)] if stage else []
        pythonpath = os.pathsep.join(path + [os.environ.get("PYTHONPATH", "")]).strip(os.pathsep)
        return {**os.environ, "PYTHONPATH": pythonpath, "PYTHONDONTWRITEBYTECODE": "1"}

    def sh(self, cmd: list[str], log: str, limit: float, cwd: Path = ROOT) -> str:
        """Runs ``cmd`` (its whole process group killed after ``limit`` seconds), appends
        its output to OUT/``log`` and returns it; Failed on a non-zero exit or a timeout."""
        with open(self.out / log, "a") as f:
            f.write(f"\n$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, cwd=cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=max(limit, 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            self._log(log, output)
            raise Failed(f"{describe(cmd)}: stopped after {limit:.0f} s")
        self._log(log, output)
        if proc.returncode != 0:
            tail = " | ".join(line.strip() for line in output.strip().splitlines()[-3:])
            raise Failed(f"{describe(cmd)} exited {proc.returncode}: {tail[-400:]}")
        return output

    def _log(self, log: str, text: str) -> None:
        path = self.out / log
        data = path.read_bytes() + text.encode()
        path.write_bytes(data[-LOG_LIMIT:])

    def save(self) -> None:
        """OUT/gpu_check.json and OUT/gpu_check.md, written whole (a reader never sees half a file)."""
        with self.lock:
            self.report["elapsed_s"] = round(time.monotonic() - self.started, 1)
            for name, text in (("gpu_check.json", json.dumps(self.report, indent=1)),
                               ("gpu_check.md", markdown(self.report))):
                tmp = self.out / f".{name}.tmp"
                tmp.write_text(text)
                tmp.replace(self.out / name)


# ---- the steps ------------------------------------------------------------------------

ENV_PROBE = r"""
import importlib.util, json, os, sysconfig, torch
info = {"python": sysconfig.get_python_version(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(), "python_headers": os.path.exists(
            os.path.join(sysconfig.get_paths()["include"], "Python.h")),
        "dali": importlib.util.find_spec("nvidia") is not None and importlib.util.find_spec("nvidia.dali") is not None}
for name in ("torchvision", "timm", "pytest", "pytest_benchmark"):
    info[name] = getattr(importlib.import_module(name), "__version__", "?") if importlib.util.find_spec(name) else None
if torch.cuda.is_available():
    info["gpu"] = torch.cuda.get_device_name()
    info["capability"] = "%d.%d" % torch.cuda.get_device_capability()
print(json.dumps(info))
"""


def first_line(cmd: list[str], having: str = "") -> str | None:
    """The first line of ``cmd``'s output that contains ``having``; None if it cannot run."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return next((line.strip() for line in out.splitlines() if having in line and line.strip()), None)


def has_header(header: str) -> bool:
    """Whether the C++ compiler finds ``header`` (preprocessing only)."""
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        return False
    proc = subprocess.run([cxx, "-E", "-x", "c++", "-"], input=f"#include <cstdio>\n#include <{header}>\n",
                          capture_output=True, text=True)
    return proc.returncode == 0


def environment(c: Check) -> dict:
    info = json.loads(c.sh([c.python, "-c", ENV_PROBE], "build.log", 60).strip().splitlines()[-1])
    # The toolkit's own nvcc (CMakeLists.txt finds the toolkit from its folder), not a wrapper on PATH.
    nvcc = "/usr/local/cuda/bin/nvcc"
    if not Path(nvcc).exists() and shutil.which("nvcc"):
        nvcc = os.path.realpath(shutil.which("nvcc"))
    info.update(
        nvidia_smi=first_line(["nvidia-smi", "--query-gpu=name,compute_cap,driver_version,memory.total",
                               "--format=csv,noheader"]),
        cmake=first_line(["cmake", "--version"]), ninja=first_line(["ninja", "--version"]),
        nvcc=first_line([nvcc, "--version"], "release") if Path(nvcc).exists() else None,
        cxx=first_line([shutil.which("c++") or "g++", "--version"]), cpus=os.cpu_count(),
        headers={h: has_header(h) for h in INFER_HEADERS})
    c.facts.update(info, nvcc_path=nvcc if Path(nvcc).exists() else None)
    c.report["environment"] = info
    return {"gpu": info.get("gpu"), "capability": info.get("capability"), "torch": info["torch"]}


def site_packages(python: str) -> Path:
    """Where another Python installs pure-Python packages."""
    return Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())


def needs_gpu(c: Check) -> None:
    if not c.facts.get("cuda_available"):
        raise Skipped("torch sees no CUDA device")


def build(c: Check) -> dict:
    needs_gpu(c)
    if c.facts.get("nvcc_path") is None:
        raise Skipped("no nvcc (looked on PATH and in /usr/local/cuda/bin)")
    build_dir, archs = c.work / "build", c.facts["capability"]
    missing = [h for h in INFER_HEADERS if not c.facts["headers"][h]]
    infer = f"skipped: {', '.join(missing)} not found" if missing else "built"
    configure = ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                 f"-DPython_EXECUTABLE={c.python}", "-DFASTKP_CUDA=ON", f"-DFASTKP_CUDA_ARCHS={archs}",
                 f"-DCMAKE_CUDA_COMPILER={c.facts['nvcc_path']}", *(["-G", "Ninja"] if shutil.which("ninja") else [])]
    t0 = time.monotonic()
    try:
        c.sh([*configure, f"-DFASTKP_INFER={'OFF' if missing else 'ON'}"], "build.log", c.left)
    except Failed as e:
        if missing:
            raise
        infer = f"skipped: configuring it failed ({e})"
        c.sh([*configure, "-DFASTKP_INFER=OFF"], "build.log", c.left)
    configured = time.monotonic()
    c.sh(["cmake", "--build", str(build_dir), "--parallel", str(os.cpu_count() or 4)], "build.log", c.left)
    stage = c.work / "stage"
    shutil.copytree(ROOT / "python" / "fastkp", stage / "fastkp", ignore=shutil.ignore_patterns("__pycache__"))
    for module in build_dir.glob("_*.so"):  # the extension modules (fastkp._C, ...), not the libraries
        (stage / "fastkp" / module.name).symlink_to(module)
    c.facts["stage"] = stage
    details = {"archs": archs, "configure_s": round(configured - t0, 1),
               "build_s": round(time.monotonic() - configured, 1), "fastkp-infer": infer}
    if infer == "built":
        c.facts["infer"] = build_dir / "fastkp-infer"
        # The tests look for fastkp-infer in the scripts folder of the Python running them: a
        # venv (no pip, nothing installed) that sees this Python's packages gives them one.
        venv = c.work / "venv"
        made = subprocess.run([c.python, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True)
        if made.returncode == 0:
            packages = c.sh([c.python, "-c", "import site; print('\\n'.join(site.getsitepackages()))"], "build.log", 60)
            (site_packages(str(venv / "bin" / "python")) / "outer.pth").write_text(packages)
            (venv / "bin" / "fastkp-infer").symlink_to(c.facts["infer"])
            c.python = str(venv / "bin" / "python")
            c.facts["infer_on_scripts_path"] = True
        else:
            details["venv"] = f"not made ({made.stderr.strip()[-200:]}): {INFER_TESTS} will not run"
    return details


IMPORT_PROBE = r"""
import json, torch, fastkp.ops as ops
x = torch.randn(64, 2, dtype=torch.float64, requires_grad=True)
xc = x.detach().cuda().requires_grad_()
for t in (x, xc):
    ops.sigmoid_range(t, -1.0, 1.0).sum().backward()
print(json.dumps({"has_cuda_kernels": ops.has_cuda_kernels(), "cuda_archs": ops._C.cuda_archs(),
                  "cpu_capability": ops.cpu_capability(), "library": ops.library_path(),
                  "cuda_kernel_registered": torch._C._dispatch_has_kernel_for_dispatch_key(
                      "fastkp::sigmoid_range", "CUDA"),
                  "cuda_vs_cpu_grad_max_abs_diff": (xc.grad.cpu() - x.grad).abs().max().item()}))
"""


def import_fastkp(c: Check) -> dict:
    if "stage" not in c.facts:
        raise Skipped("nothing was built")
    info = json.loads(c.sh([c.python, "-c", IMPORT_PROBE], "build.log", 120).strip().splitlines()[-1])
    registered = info["has_cuda_kernels"] and info["cuda_kernel_registered"]
    if not registered or info["cuda_vs_cpu_grad_max_abs_diff"] > 1e-12:
        raise Failed(f"the staged build does not run its CUDA kernels as expected: {info}")
    c.facts["imported"] = True
    return info


def needs_build(c: Check) -> None:
    needs_gpu(c)
    if not c.facts.get("imported"):
        raise Skipped("the staged build did not import")


def export(c: Check) -> dict:
    needs_build(c)
    c.sh([c.python, "tools/gpu_bench.py", "export", str(c.work / "deploy")], "bench.log", c.left)
    return {"rows": read_rows(c.work / "deploy" / "export.json")}


def junit(path: Path) -> dict:
    """Counts and failures of a pytest JUnit XML report."""
    suite = ElementTree.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    failed = []
    for case in suite.iter("testcase"):
        for bad in (*case.findall("failure"), *case.findall("error")):
            message = (bad.get("message") or "").splitlines()[:1]
            failed.append(f"{case.get('classname')}::{case.get('name')}: {''.join(message)[:200]}")
    return {**counts, "failed": failed[:30]}


def pytest_run(c: Check, name: str, args: list[str]) -> dict:
    xml = c.work / f"{name}.xml"
    try:
        c.sh([c.python, "-m", "pytest", "-m", "cuda", "-p", "no:cacheprovider", "-q", "-rfEs",
              "--continue-on-collection-errors", f"--junitxml={xml}", *args], "tests.log", c.left)
    except Failed as e:
        if not xml.exists():
            raise
        result = junit(xml)
        raise Failed(f"{result['failures'] + result['errors']} of {result['tests']} failed: {result['failed']}"
                     if result["failures"] + result["errors"] else str(e)) from None
    return junit(xml)


def tests(c: Check) -> dict:
    needs_build(c)
    ignore = [f"--ignore={DALI_TESTS}"]  # the dali_loader step runs them
    note = {}
    if not c.facts.get("infer_on_scripts_path"):
        ignore.append(f"--ignore={INFER_TESTS}")
        note["not run"] = f"{INFER_TESTS}: no fastkp-infer in the scripts folder (see the build step)"
    return {**pytest_run(c, "tests", ["tests", *ignore]), **note}


def dali_loader(c: Check) -> dict:
    needs_build(c)
    if not c.facts.get("dali"):
        raise Skipped(f"DALI is not installed here (no package index to install it from): the DALI loader's "
                      f"CUDA tests ({DALI_TESTS}) did not run")
    return pytest_run(c, "dali", [DALI_TESTS])


def read_rows(path: Path) -> list[dict]:
    return json.loads(path.read_text())["rows"] if path.exists() else []


def set_table(c: Check, table: str, rows: list[dict]) -> None:
    with c.lock:
        c.report.setdefault("tables", {})[table] = rows


def counted(rows: list[dict]) -> dict:
    if not rows:
        raise Failed("nothing was measured (see bench.log)")
    return {"rows": len(rows)}


def measured(c: Check, table: str, cmd: list[str], result: Path) -> dict:
    """Runs a measuring command; its rows (also those of a run cut short) become ``table``."""
    try:
        c.sh(cmd, "bench.log", c.left)
    finally:
        rows = read_rows(result)
        set_table(c, table, rows)
    return counted(rows)


def ops(c: Check) -> dict:
    needs_build(c)
    bench = c.work / "ops-benchmark.json"
    # prepend: bench_ops imports benchmarks/conftest.py by name (pyproject's addopts say importlib)
    cmd = [c.python, "-m", "pytest", "benchmarks/bench_ops.py", "-o", "python_files=bench_*.py",
           "--import-mode=prepend", "-p", "no:cacheprovider", "--benchmark-only", "--device", "cuda",
           "-k", "forward_backward or fwd_bwd", "-s", "-q", "--benchmark-max-time=0.2", f"--benchmark-json={bench}"]
    try:
        c.sh(cmd, "bench.log", c.left)
    finally:  # pytest-benchmark's JSON, written at the end of the session
        rows = merge_compiled([b["extra_info"] for b in json.loads(bench.read_text())["benchmarks"]]
                              if bench.exists() else [])
        set_table(c, "ops", rows)
    return counted(rows)


def merge_compiled(rows: list[dict]) -> list[dict]:
    """bench_ops times torch.compile in rows of its own ("<label> vs compile"): one row a label."""
    merged = {r["label"]: dict(r) for r in rows if not r["label"].endswith(" vs compile")}
    for r in rows:
        base = r["label"].removesuffix(" vs compile")
        if base != r["label"]:
            merged.setdefault(base, {"label": base, "device": r["device"]}).update(
                compile_ms=r["compile_ms"], speedup_vs_compile=r["speedup_vs_compile"])
    return list(merged.values())


def train(c: Check) -> dict:
    needs_build(c)
    result = c.work / "train.json"
    return measured(c, "train", [c.python, "tools/gpu_bench.py", "train", str(result)], result)


def deploy(c: Check) -> dict:
    needs_build(c)
    if not (c.work / "deploy" / "model.pth").exists():
        raise Skipped("the export step made no models")
    result = c.work / "deploy.json"
    infer = ["--infer", str(c.facts["infer"])] if "infer" in c.facts else []
    return measured(c, "deploy", [c.python, "tools/gpu_bench.py", "deploy", str(c.work / "deploy"), str(result),
                                  *infer], result)


STEPS = [
    Step("environment", "GPU, torch, compilers and headers found", 60, environment,
         commands=("nvidia-smi --query-gpu=...", "python -c 'import torch; ...'", "cmake/ninja/nvcc --version")),
    Step("build", "CMake build against the installed torch: libfastkp_ops, fastkp._C, fastkp-infer", 240, build,
         commands=("cmake -S . -B WORK/build -DFASTKP_CUDA_ARCHS=<compute_cap> -DFASTKP_INFER=ON|OFF",
                   "cmake --build WORK/build", "copy python/fastkp + built modules to WORK/stage (PYTHONPATH)")),
    Step("import", "the staged fastkp imports and runs its CUDA kernels", 120, import_fastkp,
         commands=("python -c 'import fastkp.ops; ...'",)),
    Step("export", "random ResNet-18 checkpoint exported as TorchScript and pt2 for CUDA", 240, export,
         background=True, commands=("python tools/gpu_bench.py export WORK/deploy",)),
    Step("tests", "every test marked cuda (CPU/CUDA agreement included)", 240, tests,
         commands=(f"python -m pytest -m cuda tests --ignore={DALI_TESTS}",)),
    Step("dali_loader", "the DALI loader's CUDA tests", 120, dali_loader,
         commands=(f"python -m pytest -m cuda {DALI_TESTS}",)),
    Step("ops", "fused sigmoid_range / BCE / soft_argmax fwd+bwd vs eager vs torch.compile", 300, ops,
         measures=True,
         commands=("python -m pytest benchmarks/bench_ops.py --device cuda -k 'forward_backward or fwd_bwd'",)),
    Step("train", "ResNet-18 training step, 224x224, batch 256", 180, train, measures=True,
         commands=("python tools/gpu_bench.py train WORK/train.json",)),
    Step("deploy", "exported models and fastkp-infer vs eager, batch 1 and 32", 180, deploy, measures=True,
         commands=("python tools/gpu_bench.py deploy WORK/deploy WORK/deploy.json --infer WORK/build/fastkp-infer",)),
]


# ---- running and reporting -------------------------------------------------------------


def run_step(c: Check, step: Step, record: dict) -> None:
    t0 = time.monotonic()
    c.step.deadline = t0 + step.limit
    try:
        if c.left <= 5:
            raise Skipped(f"out of time: the {c.budget:.0f} s budget is spent")
        result = {"status": "ok", "details": step.run(c)}
    except Skipped as e:
        result = {"status": "skipped", "reason": str(e)}
    except Exception as e:  # noqa: BLE001  a failed step is reported; the run goes on
        result = {"status": "failed", "error": str(e) if isinstance(e, Failed) else f"{type(e).__name__}: {e}"}
    with c.lock:  # a background step's thread may be saving the report
        record.update(result, seconds=round(time.monotonic() - t0, 1))
    c.save()


def run_all(c: Check) -> None:
    for log in LOGS:
        (c.out / log).write_text("")
    c.report.update(work=str(c.work), revision=first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
                    steps=[])
    background: list[threading.Thread] = []
    for step in STEPS:
        if step.measures:
            for thread in background:
                thread.join()
        record = {"name": step.name, "title": step.title, "status": "running"}
        with c.lock:
            c.report["steps"].append(record)
        c.save()
        if step.background:
            thread = threading.Thread(target=run_step, args=(c, step, record))
            thread.start()
            background.append(thread)
        else:
            run_step(c, step, record)
    for thread in background:
        thread.join()


def markdown(report: dict) -> str:
    lines = [f"# fastkp GPU check ({report.get('started', '')})", ""]
    env = report.get("environment")
    if env:
        lines += [f"{env.get('gpu')} (compute {env.get('capability')}), torch {env.get('torch')} "
                  f"(CUDA {env.get('torch_cuda')}), Python {env.get('python')}, {env.get('cpus')} CPUs; "
                  f"{env.get('nvcc')}; {env.get('cmake')}", ""]
    lines += ["| step | status | s | notes |", "|---|---|---|---|"]
    for s in report.get("steps", []):
        note = s.get("reason") or s.get("error") or json.dumps(s.get("details") or s.get("commands", ""))[:300]
        note = " ".join(note.replace("|", "/").split())
        lines.append(f"| {s['name']} | {s['status']} | {s.get('seconds', '')} | {note} |")
    for name, rows in report.get("tables", {}).items():
        if rows:
            cols = list(dict.fromkeys(k for r in rows for k in r))
            lines += ["", f"## {name}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            lines += ["| " + " | ".join(str(r.get(k, "")) for k in cols) + " |" for r in rows]
    lines += ["", f"elapsed {report.get('elapsed_s')} s of a {report.get('budget_s')} s budget", ""]
    return "\n".join(lines)


def dry_run(c: Check) -> None:
    missing = [p for p in NEEDED if not (ROOT / p).exists()]
    c.report.update(dry_run=True, steps=[{"name": s.name, "title": s.title, "status": "planned", "limit_s": s.limit,
                                          "background": s.background, "commands": list(s.commands)} for s in STEPS])
    if missing:
        c.report["missing_files"] = missing
    for i, s in enumerate(STEPS, 1):
        print(f"{i}. {s.name}{' (in the background)' if s.background else ''}: {s.title} [<= {s.limit} s]")
        for cmd in s.commands:
            print(f"     {cmd}")
    print(f"budget {c.budget:.0f} s; results in {c.out}/gpu_check.json and gpu_check.md")
    if missing:
        print(f"missing files: {', '.join(missing)}", file=sys.stderr)
    c.save()


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tools/gpu_check.sh", description="Build, test and measure fastkp on a GPU.")
    p.add_argument("out", type=Path, metavar="OUT", help="folder for gpu_check.json, gpu_check.md and the logs")
    p.add_argument("--dry-run", action="store_true", help="check arguments and steps only: no build, no GPU")
    p.add_argument("--budget", type=float, default=300.0, help="seconds for the whole run (default 300)")
    args = p.parse_args(argv)
    if args.budget <= 0:
        p.error(f"--budget must be positive, got {args.budget:g}")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"OUT {args.out} exists and is not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    c = Check(out=args.out.resolve(), budget=args.budget)
    c.report.update(started=time.strftime("%Y-%m-%d %H:%M:%S %Z"), budget_s=c.budget)
    if args.dry_run:
        dry_run(c)
        shutil.rmtree(c.work, ignore_errors=True)
    else:
        run_all(c)
        for s in c.report["steps"]:
            note = s.get("reason") or s.get("error") or ""
            print(f"{s['name']:12} {s['status']:8} {s.get('seconds', '')!s:>6}  {note}")
        print(f"results: {c.out}/gpu_check.md, gpu_check.json; build in {c.work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
