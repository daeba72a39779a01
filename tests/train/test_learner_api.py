"""The learner in a notebook: figures returned and written, save/load, export, load_learner
without data; small defaults that used to mislead (threshold, table, sizes)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from fastkp.atomic import atomic_writer
from fastkp.config import parse_size, resolve
from fastkp.errors import UsageError
from fastkp.export import load, read_metadata
from fastkp.heads import MultiLabelHead
from fastkp.learner import Learner, load_learner
from fastkp.plots import unique_titles
from fastkp.recorder import Recorder
from support.images import random_pixels, write_jpeg
from support.models import make_checkpoint

pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def learn(tmp_path_factory):
    from fastkp.data.synth import make_landmarks

    d = tmp_path_factory.mktemp("api")
    root = make_landmarks(d / "lm", n_images=40, k=5, size=(64, 64))
    learn = Learner.from_folder("landmarks", root, size=32, bs=8, out=d / "run", progress=False, threads=1,
                                schedule="fine_tune")
    learn.fine_tune(1, 1e-2, freeze_epochs=0)
    return learn


def test_figures_are_returned_and_written(learn):
    for make, png in ((learn.show_batch, "show_batch.png"), (learn.show_results, "show_results.png"),
                      (learn.plot_losses, "losses.png")):
        (learn.out / png).unlink()
        assert isinstance(make(), Figure) and (learn.out / png).stat().st_size > 1000
    fig = learn.show_results()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["target", "prediction"]
    names = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert set(learn.heads[0].names) <= names  # points carry their names


def test_save_load_export_and_load_learner(learn, tmp_path):
    path = learn.save("stage1")
    assert path == learn.out / "models" / "stage1.pth"
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with torch.no_grad():
        next(learn.model.parameters()).add_(1.0)
    learn.load("stage1")
    assert all(torch.equal(v, learn.model.state_dict()[k]) for k, v in before.items())

    image = write_jpeg(tmp_path / "face.jpg", random_pixels(50, 70))
    meta = learn.export(tmp_path / "m.pt")
    assert meta.heads[0]["names"] == learn.heads[0].names == read_metadata(tmp_path / "m.pt").heads[0]["names"]
    again = load_learner(path, device="cpu", out=tmp_path / "again")
    assert not hasattr(again, "train_dl")  # no data read, no demo set made
    want, got = learn.predict([image])[0], again.predict([image])[0]
    assert got["keypoints"] == want["keypoints"] and got["names"] == learn.heads[0].names
    assert got["score"] == want["score"]  # the heatmap head's, one per point
    exported = load(tmp_path / "m.pt")(torch.from_numpy(np.array(Image.open(image)))[None])
    np.testing.assert_allclose(exported[0, :, :2].numpy(), want["keypoints"], atol=0.5)  # PIL vs DALI decode
    np.testing.assert_allclose(exported[0, :, 2].numpy(), want["score"], atol=0.05)
    assert isinstance(again.show_results([image]), Figure) and (tmp_path / "again" / "show_results.png").exists()


def test_load_learner_takes_checkpoints_made_outside_training(tmp_path):
    ckpt = make_checkpoint(tmp_path / "kp.pth", True, size=(48, 48))
    model = load_learner(ckpt, device="cpu")
    image = write_jpeg(tmp_path / "x.jpg", random_pixels(40, 60))
    assert len(model.predict([image])[0]["keypoints"]) == 3
    with pytest.raises(Exception, match="give image files"):
        model.show_results()


def test_threshold_that_leaves_images_unlabelled_is_not_kept():
    head = MultiLabelHead(vocab=["a", "b"], threshold=0.2)
    assert head.on_best({"best_threshold": 0.85, "best_threshold_unlabelled": 0.9}).endswith("keeping 0.20")
    assert head.threshold == 0.2 and head.epoch_info() == {"threshold": 0.2}
    assert head.on_best({"best_threshold": 0.35, "best_threshold_unlabelled": 0.5}) is None
    assert head.threshold == 0.35
    assert MultiLabelHead.from_state(head.state()).default_threshold == 0.2


def test_table_rows_and_sizes(tmp_path, capsys):
    rec = Recorder(tmp_path, 0, ["rmse_px", "threshold"])
    rec.row({"epoch": 3, "train_loss": 0.1234567, "valid_loss": 0.2, "rmse_px": 11.61234, "threshold": 0.35,
             "time_s": 58.3})
    cells = capsys.readouterr().out.split()
    assert cells == ["3", "0.12346", "0.20000", "11.61234", "0.35", "58.3"]
    assert [parse_size(v) for v in (96, "96", "96x128", ("96", "128"), (96, 128))] == [
        (96, 96), (96, 96), (96, 128), (96, 128), (96, 128)]
    assert resolve(size="64x48").size == (64, 48)
    with pytest.raises(UsageError, match="size must be"):
        resolve(size="big")


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_writer(tmp_path / "x.bin") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "x.bin").stat().st_mode & 0o777 == 0o644


def test_plot_titles_are_unique():
    assert unique_titles(["/d/a/x.jpg", "/d/b/x.jpg"]) == ["a/x.jpg", "b/x.jpg"]
    assert unique_titles(["/d/a/x.jpg"]) == ["x.jpg"]


def test_amp_on_a_cpu_without_bf16_instructions_runs_fp32(monkeypatch):
    """bf16 autocast where the CPU has no bf16 instructions would be ~10x slower than fp32:
    amp is then off (fastkp.train says so in its first lines)."""
    import dataclasses

    from fastkp import predictor, runtime
    from fastkp.checkpoint import ModelSpec
    from fastkp.config import for_model
    from fastkp.heads import KeypointHead

    spec = ModelSpec("biwi", "resnet18", (32, 32), [KeypointHead(n_keypoints=1)])
    cfg = dataclasses.replace(for_model("biwi", "resnet18", (32, 32)), amp=True, device="cpu")
    for has, dtype in ((False, torch.float32), (True, torch.bfloat16)):
        monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: has)
        p = predictor.Predictor(spec, cfg)
        assert (p.amp, p.load_dtype) == (has, dtype)
        with p._autocast():
            assert torch.is_autocast_enabled("cpu") is has
