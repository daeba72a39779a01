"""The documentation, run as written: every block fenced as ```` ```sh test ```` or
```` ```python test ```` in README.md and in docs/*.md is extracted and run.

The pages run in ``ORDER`` (any page not named there after them, sorted), each page's
blocks in order, all in one scratch folder whose ``HOME`` holds synthetic stand-ins for
``~/data/...`` and whose demo cache holds a small demo set. A page runs after the pages
it uses (``NEEDS``: what README.md's blocks made, such as ``runs/fastkp/best.pth`` and
``model.pt``; a page not listed there needs README.md), and fails at once when one of
them failed. A
``sh`` block runs in ``bash -e -o pipefail`` after ``source .venv/bin/activate``; a
``python`` block runs as a script file (so TorchScript can read the source of classes it
defines). Training is cut short: ``--epochs 1 --freeze-epochs 0 --size 32 --bs 8`` is
appended to each ``fastkp.train`` command, and ``PRELUDE`` does the same for the Python
API. Asking for one page (``-k training``) runs the pages it needs first.

Also checked: the files each page's blocks make (``MADE``), that every page with blocks
ran all of them, the relative links and their anchors, and the module tree of
docs/architecture.md (``tests/docs/module_tree.py``)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fastkp.data.synth import make_biwi, make_landmarks, make_pascal
from fastkp.data.synth.w300 import make_300w
from fastkp.tasks import TASKS, demo_root

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BLOCK = re.compile(r"^```(sh|python) test\n(.*?)^```", re.M | re.S)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
ORDER = ["README.md", "docs/training.md", "docs/tasks.md", "docs/deployment.md", "docs/pipeline.md",
         "docs/operators.md", "docs/architecture.md", "docs/gpu-check.md"]
# the pages whose blocks use what other pages' blocks made; a page not listed needs README.md
NEEDS = {"README.md": (), "docs/tasks.md": (), "docs/pipeline.md": (), "docs/operators.md": (),
         "docs/architecture.md": (), "docs/gpu-check.md": ()}
SHORT = "--epochs 1 --freeze-epochs 0 --size 32 --bs 8"
# Python blocks: the same short training, set before the block runs
PRELUDE = """
import fastkp.config as _config, fastkp.learner as _learner
_resolve = _config.resolve
def _short(*a, **k):
    return _resolve(*a, **{**k, "size": 32, "bs": 8})
_config.resolve = _learner.resolve = _short
_fine_tune, _fit, _lr_find = _learner.Learner.fine_tune, _learner.Learner.fit, _learner.Learner.lr_find
_learner.Learner.fine_tune = lambda self, epochs, base_lr=2e-3, **k: _fine_tune(self, 1, base_lr, freeze_epochs=0)
_learner.Learner.fit = lambda self, epochs, lr=3e-3, **k: _fit(self, 1, lr)
_learner.Learner.lr_find = lambda self, **k: _lr_find(self, num_it=30)
"""
# what each page's blocks leave in the scratch folder
MADE = {
    "README.md": ["runs/fastkp/best.pth", "runs/biwi/best.pth", "model.pt", "preds.png", "eval-biwi/metrics.json",
                  "runs/quick/model.pt"],
    "docs/training.md": ["runs/fastkp/lr_find.png", "runs/pascal/best.pth", "runs/faces/best.pth",
                         "runs/faces-api/best.pth", "runs/notebook/models/stage1.pth", "runs/notebook/again.pt"],
    "docs/tasks.md": ["runs/300w/best.pth", "face68.pt", "detections.jsonl", "eval/ced.png", "eval-flip/metrics.json",
                      "eval-export/worst.png"],
    "docs/deployment.md": ["build/consumer/describe_model"],
    "docs/architecture.md": ["runs/score/best.pth", "runs/score/score.pt"],
    "docs/gpu-check.md": ["gpu-dry-run/gpu_check.md"],
}


def pages() -> list[str]:
    """Every page, in the order they run."""
    others = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))
    return ORDER + [p for p in others if p not in ORDER]


def blocks(page: str) -> list[tuple[str, str]]:
    path = REPO / page
    return BLOCK.findall(path.read_text(encoding="utf-8")) if path.exists() else []


RUNNABLE = [page for page in pages() if blocks(page)]


def shortened(block: str) -> str:
    """Each training command gets SHORT before its comment."""
    lines = []
    for line in block.splitlines():
        if "fastkp.train" in line:
            command, hash_, comment = line.partition("  #")
            line = f"{command.rstrip()} {SHORT}" + (f"  {hash_}{comment}" if hash_ else "")
        lines.append(line)
    return "\n".join(lines) + "\n"


class Runner:
    """Runs the pages' blocks in the scratch folder, each page once, the pages it needs first."""

    def __init__(self, work: Path, env: dict[str, str]):
        self.work, self.env = work, env
        self.ran: dict[str, int] = {}  # page -> blocks that passed
        self.failed: set[str] = set()

    def run(self, page: str) -> None:
        for needed in NEEDS.get(page, ("README.md",)):
            if needed not in self.failed:
                self.run(needed)
            if needed in self.failed:
                pytest.fail(f"{page} needs {needed}, which failed")
        if page in self.failed:
            pytest.fail(f"{page} failed earlier")
        if page not in self.ran:
            self.ran[page] = 0
            try:
                self._run_page(page)
            except BaseException:
                self.failed.add(page)
                raise

    def _run_page(self, page: str) -> None:
        scripts = self.work / ".doc-blocks"
        scripts.mkdir(exist_ok=True)
        for i, (kind, block) in enumerate(blocks(page), 1):
            if kind == "sh":
                cmd = ["bash", "-e", "-o", "pipefail", "-c", "source .venv/bin/activate\n" + shortened(block)]
            else:
                script = scripts / f"{Path(page).stem}_{i}.py"
                script.write_text(PRELUDE + block, encoding="utf-8")
                cmd = [str(self.work / ".venv" / "bin" / "python"), str(script)]
            res = subprocess.run(cmd, cwd=self.work, env=self.env, capture_output=True, text=True, timeout=600)
            assert res.returncode == 0, (f"{page} block {i} ({kind}) exited {res.returncode}:\n{block}\n"
                                         f"{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
            self.ran[page] += 1


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Runner:
    root = tmp_path_factory.mktemp("docs")
    home, work, cache = root / "home", root / "work", root / "cache"
    make_biwi(home / "data" / "biwi_head_pose", persons=3, frames_per_person=12, size=(96, 128))
    make_pascal(home / "data" / "pascal_2007", n_images=40, size=(64, 64))
    make_landmarks(home / "data" / "faces", n_images=40, k=5, size=(64, 64))
    make_300w(home / "data" / "300w", 24, size=(64, 64))
    env = {**os.environ, "HOME": str(home), "FASTKP_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    demo = cache / demo_root(TASKS["biwi"]).name
    make_biwi(demo, persons=3, frames_per_person=12, size=(96, 128))
    (demo / ".complete").touch()
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.executable).parents[1])
    for shared in ("examples", "tools"):
        (work / shared).symlink_to(REPO / shared)
    return Runner(work, env)


def test_readme_has_a_runnable_quick_start():
    kinds = [kind for kind, _ in blocks("README.md")]
    assert kinds.count("sh") >= 2 and "python" in kinds
    assert set(MADE) <= set(RUNNABLE), f"pages with expected files but no blocks: {set(MADE) - set(RUNNABLE)}"


@pytest.mark.parametrize("page", RUNNABLE)
def test_page_runs_as_written(runner, page):
    runner.run(page)
    for made in MADE.get(page, []):
        assert (runner.work / made).exists(), f"{page}: its blocks did not make {made}"
    if page == "docs/tasks.md":  # a checkpoint and its export score alike
        flip, export = (json.loads((runner.work / d / "metrics.json").read_text())["metrics"]
                        for d in ("eval-flip", "eval-export"))
        assert flip == pytest.approx(export, abs=1e-4)


def test_every_block_ran(runner):
    """Every page with blocks ran all of them (after the pages selected above)."""
    for page in RUNNABLE:
        runner.run(page)
    assert runner.ran == {page: len(blocks(page)) for page in RUNNABLE}


def anchors(text: str) -> set[str]:
    """GitHub's anchors of the Markdown headings outside code blocks."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", text), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", pages())
def test_links_resolve(page):
    """Relative links point at files that exist, and at headings that exist."""
    path = REPO / page
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        linked = (path.parent / target).resolve() if target else path
        assert linked.exists(), f"{page}: link to missing {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked.read_text(encoding="utf-8")), f"{page}: no heading #{anchor} in {target}"


def test_module_tree_is_current():
    spec = importlib.util.spec_from_file_location("module_tree", HERE / "module_tree.py")
    module_tree = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module_tree)
    page = module_tree.page_block(module_tree.PAGE.read_text(encoding="utf-8"))
    assert page == module_tree.block(), "docs/architecture.md's module tree is stale: run python tests/docs/module_tree.py --write"
