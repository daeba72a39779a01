"""Generators: same seed same bytes, the real formats, exact drawing centres, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastkp
from fastkp.data import load_biwi, load_landmarks, load_pascal
from fastkp.data.synth import make_biwi, make_landmarks, make_pascal
from fastkp.data.synth.__main__ import cli, get_args_parser, main
from fastkp.data.synth.biwi import person_names
from fastkp.data.synth.draw import fill_ellipse
from fastkp.data.synth.landmarks import ALLOWED_K, point_names

SMALL = {
    "biwi": lambda root, seed: make_biwi(root, persons=2, frames_per_person=2, seed=seed, size=(60, 80)),
    "pascal": lambda root, seed: make_pascal(root, 4, seed=seed, size=(48, 64)),
    "landmarks": lambda root, seed: make_landmarks(root, 4, k=6, seed=seed, size=(48, 48)),
}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", SMALL)
def test_same_seed_same_bytes_other_seed_differs(tmp_path, kind):
    a, b, c = (_files(SMALL[kind](tmp_path / name, seed)) for name, seed in (("a", 7), ("b", 7), ("c", 8)))
    assert a == b
    images = [k for k in a.keys() & c.keys() if k.endswith((".jpg", ".png"))]  # Biwi frame numbers vary
    assert images and all(a[k] != c[k] for k in images)


def test_person_names_always_include_13():
    assert person_names(2) == ["01", "13"]
    assert person_names(4) == ["01", "02", "03", "13"]
    assert person_names(13) == [f"{i:02d}" for i in range(1, 14)]
    assert person_names(20)[-1] == "20" and "13" in person_names(20)
    with pytest.raises(ValueError, match="persons"):
        person_names(1)


def test_biwi_files_look_like_the_real_set(tmp_path):
    root = make_biwi(tmp_path, persons=3, frames_per_person=3)
    intrinsics = []
    for folder in sorted(root.iterdir()):
        cal = (folder / "rgb.cal").read_text()
        assert [len(b.strip().splitlines()) for b in cal.split("\n\n")] == [3, 1, 3, 1]
        k = np.loadtxt(folder / "rgb.cal", max_rows=3)
        assert abs(k[0, 0] / 517.679 - 1) < 0.035 and abs(k[1, 1] / k[0, 0] - 1) < 0.006
        assert abs(k[0, 2] - 320) <= 4 and abs(k[1, 2] - 240) <= 4 and (k[2] == [0, 0, 1]).all()
        intrinsics.append(k)
        poses = sorted(folder.glob("frame_*_pose.txt"))
        assert poses[0].name == "frame_00003_pose.txt" and len(poses) == 3
        for pose in poses:
            text = pose.read_text()
            assert text.count("\n\n") == 1 and text.index("\n\n") == len("\n".join(text.splitlines()[:3]))
            values = np.loadtxt(pose)
            r, t = values[:3], values[3]
            np.testing.assert_allclose(r @ r.T, np.eye(3), atol=2e-5)
            assert abs(np.linalg.det(r) - 1) < 3e-5 and 700 < t[2] < 1200
    assert not np.allclose(intrinsics[0], intrinsics[1])
    d = load_biwi(root)
    train, valid = d.train, d.valid
    assert len(train) == 6 and len(valid) == 3 and train[0].size == (480, 640)
    for s in train + valid:  # centres in the middle half of the image
        assert 160 <= s.keypoints[0, 0] <= 480 and 120 <= s.keypoints[0, 1] <= 360


def test_pascal_csv_is_the_books_format(tmp_path):
    root = make_pascal(tmp_path, 12, size=(60, 80))
    lines = (root / "train.csv").read_text().splitlines()
    assert lines[0] == "fname,labels,is_valid"
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"True", "False"}
    d = load_pascal(root)
    train, valid, vocab = d.train, d.valid, list(d.meta.vocab)
    assert len(valid) == 3 and len(train) == 9
    assert all(1 <= s.labels.sum() <= 3 for s in train + valid)


def test_landmark_names_and_flip(tmp_path):
    for k in ALLOWED_K:
        names = point_names(k)
        assert all(f"right_{n[5:]}" in names for n in names if n.startswith("left_"))
    with pytest.raises(ValueError, match="k must be one of"):
        point_names(4)
    root = make_landmarks(tmp_path, 3, k=5, size=(48, 48))
    spec = json.loads((root / "flip.json").read_text())
    assert spec == {
        "names": ["nose_tip", "left_eye", "right_eye", "left_mouth", "right_mouth"],
        "flip_index": [0, 2, 1, 4, 3],
    }
    assert sorted(p.suffix for p in (root / "images").iterdir()) == [".png"] * 3
    with pytest.raises(ValueError, match="n_images"):
        make_landmarks(tmp_path / "x", 1)


@pytest.mark.parametrize("centre", [(20.0, 15.0), (20.5, 15.5), (20.25, 14.7)])
@pytest.mark.parametrize("angle", [0.0, 0.6])
def test_ellipse_is_centred_in_pixel_corner_coordinates(centre, angle):
    img = np.zeros((32, 40, 1), np.float32)
    fill_ellipse(img, centre, (7.0, 4.0), angle, (1.0,))
    ys, xs = np.mgrid[0:32, 0:40] + 0.5  # pixel centres
    mass = img[..., 0]
    got = ((mass * xs).sum() / mass.sum(), (mass * ys).sum() / mass.sum())
    np.testing.assert_allclose(got, centre, atol=0.03)  # edge sampling error only
    assert abs(mass.sum() - np.pi * 7 * 4) < 0.02 * np.pi * 7 * 4


# ---- command line ------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(fastkp.__file__).parents[1])}
    command = [sys.executable, "-m", "fastkp.data.synth", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_cli_writes_a_readable_tree(tmp_path):
    out = tmp_path / "lm"
    done = _cli("landmarks", str(out), "--n", "5", "--k", "3", "--seed", "4", "--size", "40x48")
    assert done.returncode == 0, done.stderr
    d = load_landmarks(out)
    train, valid, flip = d.train, d.valid, np.array(d.meta.flip_index)
    assert len(train) + len(valid) == 5 and train[0].size == (40, 48) and flip.tolist() == [0, 2, 1]
    assert _files(out) == _files(make_landmarks(tmp_path / "api", 5, k=3, seed=4, size=(40, 48)))


@pytest.mark.parametrize(
    "args",
    [
        ["biwi", "OUT", "--n", "0"],
        ["pascal", "OUT", "--n", "many"],
        ["landmarks", "OUT", "--k", "4"],
        ["faces", "OUT"],
        ["biwi"],
        ["biwi", "OUT", "--size", "480by640"],
    ],
)
def test_cli_bad_arguments(tmp_path, args):
    done = _cli(*[str(tmp_path / "out") if a == "OUT" else a for a in args])
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "error" in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_help():
    done = _cli("--help")
    assert done.returncode == 0 and "biwi" in done.stdout and "landmarks" in done.stdout


def test_cli_cannot_write_is_one_line_exit_2(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    done = _cli("pascal", str(tmp_path / "file" / "out"), "--n", "2", "--size", "32x32")
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastkp.data.synth: error: ")
    assert str(tmp_path / "file") in lines[0]


def test_cli_in_process(tmp_path, capsys):
    small = ["--n", "2", "--size", "32x32"]
    assert main(get_args_parser().parse_args(["pascal", str(tmp_path / "a"), *small])) == 0
    assert cli(["pascal", str(tmp_path / "b"), *small]) == 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert capsys.readouterr().out.splitlines() == [
        f"wrote a synthetic pascal set to {tmp_path / name}" for name in "ab"]
    with pytest.raises(SystemExit) as bad:
        cli(["faces", str(tmp_path / "c")])
    assert bad.value.code == 2 and not (tmp_path / "c").exists()


def test_tilde_is_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)  # where a literal "~" folder would land
    assert make_pascal("~/api", 2, size=(32, 32)) == home / "api"
    assert cli(["pascal", "~/cli", "--n", "2", "--size", "32x32"]) == 0  # a quoted ~ in a shell
    assert _files(home / "api") == _files(home / "cli")
    assert not (tmp_path / "~").exists()


def test_generators_show_progress_when_asked(tmp_path, capsys):
    from fastkp.data.synth import make_pascal

    make_pascal(tmp_path / "quiet", n_images=4, size=(32, 32))
    assert capsys.readouterr().err == ""
    make_pascal(tmp_path / "loud", n_images=4, size=(32, 32), progress=True)
    assert "pascal demo set" in capsys.readouterr().err
