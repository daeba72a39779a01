"""The DIGITS regression, age + gender on one body, and single-label classes: each learns
from a random body on a small synthetic set and beats its constant predictor; its export
answers the same in Python and C++; the CLI takes the task's formats."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fastkp import heads
from fastkp.data.synth import make_agegender, make_classify, make_regression
from fastkp.errors import UsageError
from fastkp.export import export_checkpoint, read_metadata
from fastkp.learner import Learner
from fastkp.predict import cli as predict_cli
from support.infer import json_lines, run_infer

pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")
MAKE = {"regression": make_regression, "agegender": make_agegender, "classify": make_classify}


def beats_baseline(task: str, best: dict, base: dict) -> bool:
    """Stated margins: values to half the constant predictor's error; age to 0.8 of it with
    gender 20 points above the majority; classes 30 points above the most frequent one."""
    if task == "regression":
        return best["mae"] < 0.5 * base["mae"]
    if task == "agegender":
        return best["mae"] < 0.8 * base["mae"] and best["accuracy"] > base["accuracy"] + 0.2
    return best["accuracy"] > base["accuracy"] + 0.3


@pytest.fixture(scope="module", params=list(MAKE))
def trained(request, tmp_path_factory):
    task = request.param
    d = tmp_path_factory.mktemp(task)
    root = MAKE[task](d / "data", n_images=320, size=(48, 48))
    learn = Learner.from_folder(task, root, size=48, bs=32, out=d / "run", progress=False, schedule="fine_tune")
    base = learn.constant_baseline()
    history = learn.fine_tune(5, 1e-2, freeze_epochs=1)
    return task, learn, base, history


def test_each_task_learns(trained):
    task, learn, base, history = trained
    directions = heads.directions(learn.heads)
    best = {k: (min if directions[k] == "min" else max)(h[k] for h in history) for k in base}
    assert beats_baseline(task, best, base), (task, best, base)


def test_each_task_exports_and_answers_alike_in_python_and_cpp(trained, tmp_path, capsys):
    task, learn, _, _ = trained
    model = tmp_path / f"{task}.pt"
    export_checkpoint(learn.out / "best.pth", model)
    assert [h["kind"] for h in read_metadata(model).heads] == [h.kind for h in learn.heads]
    images = [s.path for s in learn.valid_samples[:3]]
    assert predict_cli([str(model), *images]) == 0
    py = json_lines(capsys.readouterr().out)
    cpp = json_lines(run_infer(model, *images).stdout)
    assert [list(r) for r in py] == [list(r) for r in cpp]
    keys = {"regression": ["values"], "agegender": ["age", "gender", "probabilities"],
            "classify": ["label", "probability", "top5"]}[task]
    assert list(py[0])[3:] == keys
    for p, c in zip(py, cpp):
        for key in ("gender", "label"):
            assert p.get(key) == c.get(key)
        if task == "agegender":
            assert abs(p["age"] - c["age"]) < 1e-3
    answers = learn.predict(images)
    assert [list(a)[3:] for a in answers] == [keys] * len(images)


def test_agegender_runs_as_pt2(trained, tmp_path):
    task, learn, _, _ = trained
    if task != "agegender":
        pytest.skip("pt2 of the other tasks: test_tasks_pt2 (slow)")
    package, script = tmp_path / "ag.pt2", tmp_path / "ag.pt"
    export_checkpoint(learn.out / "best.pth", package, "pt2")
    export_checkpoint(learn.out / "best.pth", script)
    images = [s.path for s in learn.valid_samples[:2]]
    from_pt2 = json_lines(run_infer(package, *images).stdout)
    from_ts = json_lines(run_infer(script, *images).stdout)
    assert [r["gender"] for r in from_pt2] == [r["gender"] for r in from_ts]
    assert all(abs(a["age"] - b["age"]) < 1e-2 for a, b in zip(from_pt2, from_ts))


def train(task: str, data, out, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastkp.train", "--task", task, "--data", str(data), "--size", "32",
                           "--bs", "8", "--threads", "1", "--epochs", "0", "--freeze-epochs", "1", "--schedule",
                           "fine_tune", "--out", str(out), *extra], capture_output=True, text=True, timeout=300)


def test_cli_formats_weights_and_the_regression_note(tmp_path):
    csv = make_agegender(tmp_path / "csv", n_images=40, size=(32, 32), format="csv")
    res = train("agegender", csv, tmp_path / "a", "--format", "csv", "--loss-weights", "age=2")
    assert res.returncode == 0, res.stderr[-2000:]
    res = train("agegender", csv, tmp_path / "b", "--format", "folders")
    assert res.returncode == 2 and "--format: task agegender reads the formats utkface, csv" in res.stderr
    res = train("agegender", csv, tmp_path / "c", "--format", "csv", "--loss-weights", "height=1")
    assert res.returncode == 2 and "--loss-weights: no head named height" in res.stderr
    res = train("regression", make_regression(tmp_path / "reg", n_images=40, size=(32, 32)), tmp_path / "d")
    task_line = next(line for line in res.stdout.splitlines() if line.startswith("fastkp: task"))
    assert res.returncode == 0 and "augmentation off by default" in task_line, res.stderr[-2000:]


def test_settings_a_task_cannot_use_are_refused(tmp_path):
    root = make_classify(tmp_path / "cls", n_images=20, size=(32, 32), classes=2)
    with pytest.raises(UsageError, match="classes head 'label'"):
        Learner.from_folder("classify", root, out=tmp_path / "run", loss="mse", progress=False)
    res = train("agegender", root, tmp_path / "w", "--loss-weights", "age=1,age=2")
    assert res.returncode == 2 and "each head named once" in res.stderr
