"""Export to TorchScript: eager and exported agree, metadata round trip, the resize
geometry matches the loaders', atomic writes, and clear errors for bad files."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from fastkp.checkpoint import CheckpointError
from fastkp.export import ExportError, ModelMetadata, deploy_module, export_checkpoint, load, read_metadata
from fastkp.export.__main__ import cli as export_main
from fastkp.pipeline import denormalize_points, resize_matrix
from fastkp.pipeline.reference import warp
from support.images import random_pixels
from support.model_files import bad_model_files, unsafe_archives
from support.models import VOCAB, make_checkpoint

# The tests call torch.jit directly (to make foreign files), which warns of its deprecation.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")
SIZES = [(1, 1), (3, 5), (37, 81), (97, 50)]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    return {"keypoints": make_checkpoint(d / "kp.pth", True, size=(64, 48)),
            "probabilities": make_checkpoint(d / "cls.pth", False, size=(48, 64))}


@pytest.fixture(scope="module")
def exported(ckpts, tmp_path_factory):
    """(output kind, frozen) -> TorchScript file."""
    d = tmp_path_factory.mktemp("ts")
    out = {}
    for kind, ckpt in ckpts.items():
        for frozen in (True, False):
            out[kind, frozen] = d / f"{kind}-{frozen}.pt"
            export_checkpoint(ckpt, out[kind, frozen], freeze=frozen)
    return out


def batch(h: int, w: int, n: int = 2) -> torch.Tensor:
    return torch.from_numpy(np.stack([random_pixels(h, w, seed=i) for i in range(n)]))


@pytest.fixture(scope="module")
def eager(ckpts):
    return {kind: deploy_module(ckpt)[0] for kind, ckpt in ckpts.items()}


@pytest.mark.parametrize("kind", ["keypoints", "probabilities"])
@pytest.mark.parametrize("frozen", [True, False])
def test_torchscript_matches_eager(eager, exported, kind, frozen):
    model = load(exported[kind, frozen])
    for hw in SIZES:
        images = batch(*hw)
        with torch.no_grad():
            want = eager[kind](images)
        got = model(images)
        assert got.dtype == torch.float32
        if kind == "keypoints":
            assert got.shape == (2, 3, 2)
            torch.testing.assert_close(got, want, atol=1e-3, rtol=0, msg=f"size {hw}")  # pixels
        else:
            assert got.shape == (2, len(VOCAB))
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0, msg=f"size {hw}")


def test_keypoints_are_input_pixels_of_the_loader_geometry(ckpts):
    """Inside the module: the loaders' squash resize (resize_matrix, bilinear, pixel corners
    at integers) then the network's [-1, 1] points mapped back with the input size."""
    module, meta, config = deploy_module(ckpts["keypoints"])
    pixels = random_pixels(37, 81)
    size = config.size
    resized = warp(pixels, resize_matrix(pixels.shape[:2], size), size, "border")  # (h, w, 3) float 0..255
    x = resized.permute(2, 0, 1)[None] / 255.0
    x = (x - torch.tensor(meta.mean).view(1, 3, 1, 1)) / torch.tensor(meta.std).view(1, 3, 1, 1)
    with torch.no_grad():
        normalised = module.net(x)[0][0].numpy()  # head 0, image 0
        got = module(torch.from_numpy(pixels)[None])[0].numpy()
    np.testing.assert_allclose(got, denormalize_points(normalised, pixels.shape[:2]), atol=2e-3)


def test_metadata_round_trip(ckpts, exported):
    for (kind, _), path in exported.items():
        meta = read_metadata(path)
        _, want, config = deploy_module(ckpts[kind])
        assert meta == want
        assert meta.export_format == "torchscript" and meta.device == "any"
        assert meta.input_size == tuple(config.size) and meta.mean == tuple(config.mean)
        assert meta.torch_version == torch.__version__ and meta.fastkp_version
        assert load(path).metadata == meta
        # The same JSON is what torch.jit.load hands back as the extra file.
        extra = {"fastkp.json": ""}
        torch.jit.load(str(path), _extra_files=extra)
        assert ModelMetadata.from_json(extra["fastkp.json"], path) == meta
    (kp,), (cls,) = read_metadata(exported["keypoints", True]).heads, read_metadata(exported["probabilities", True]).heads
    assert (kp["kind"], kp["n_keypoints"], kp["y_range"], kp.get("vocab")) == ("keypoints", 3, [-1.0, 1.0], None)
    assert (cls["kind"], cls["vocab"], cls["threshold"], cls.get("n_keypoints")) == ("multilabel", VOCAB, 0.45, None)


def test_fused_operator_stays_in_the_graph(exported):
    assert "fastkp::sigmoid_range" in str(load(exported["keypoints", True])._run.graph)  # frozen: inlined
    points = getattr(getattr(load(exported["keypoints", False])._run.net.heads, "0"), "8")  # after create_head
    assert "ops.fastkp.sigmoid_range" in points.y_range.code


def test_cli_writes_the_file(ckpts, tmp_path, capsys):
    out = tmp_path / "sub" / "model.pt"
    assert export_main([str(ckpts["probabilities"]), "--out", str(out)]) == 0
    assert read_metadata(out).heads[0]["vocab"] == VOCAB
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.pt"]  # no temporary left


def test_cli_bad_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert export_main([str(bad), "--out", str(tmp_path / "m.pt")]) == 2
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


def test_export_is_atomic(ckpts, tmp_path, monkeypatch):
    out = tmp_path / "model.pt"
    export_checkpoint(ckpts["keypoints"], out)
    before = out.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch.jit, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export_checkpoint(ckpts["keypoints"], out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_export_rejects_unknown_format(ckpts, tmp_path):
    with pytest.raises(ValueError, match="format"):
        export_checkpoint(ckpts["keypoints"], tmp_path / "m.tflite", "tflite")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        export_checkpoint(tmp_path / "missing.pth", tmp_path / "m.pt")


def test_bad_model_files_raise_naming_the_file(exported, ckpts, tmp_path):
    for name, (path, says) in bad_model_files(exported["keypoints", True], ckpts["keypoints"], tmp_path).items():
        with pytest.raises(ExportError) as err:
            load(path)
        assert str(path) in str(err.value) and says in str(err.value), name


def test_model_rejects_bad_input(exported):
    model = load(exported["keypoints", True])
    for bad in (torch.zeros(1, 8, 8, 3), torch.zeros(1, 8, 8, 4, dtype=torch.uint8),
                torch.zeros(8, 8, 3, dtype=torch.uint8), torch.zeros(0, 8, 8, 3, dtype=torch.uint8)):
        with pytest.raises(ValueError, match="uint8"):
            model(bad)


def test_cuda_needs_a_device(exported):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device exists")
    with pytest.raises(ExportError, match="CUDA is not available"):
        load(exported["keypoints", True], "cuda")


@pytest.mark.cuda
def test_torchscript_on_cuda_matches_cpu(exported):
    images = batch(37, 81)
    cpu = load(exported["keypoints", True])(images)
    gpu = load(exported["keypoints", True], "cuda")(images).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-2, rtol=0)


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
def test_unsafe_archives_are_refused_before_loading(exported, tmp_path):
    for name, (path, says) in unsafe_archives(exported["keypoints", True], tmp_path).items():
        with pytest.raises(ExportError) as err:
            load(path)
        assert str(path) in str(err.value) and says in str(err.value), name


def test_archives_with_data_before_them_or_nul_names_are_refused(exported, tmp_path):
    good = exported["keypoints", True]
    prefixed = tmp_path / "prefixed.pt"
    prefixed.write_bytes(b"MZ not a zip start" + good.read_bytes())
    with pytest.raises(ExportError, match="does not start at the beginning"):
        load(prefixed)
    nul = tmp_path / "nul.pt"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(nul, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        zout.writestr(zin.namelist()[0].split("/")[0] + "/data/nul_here.so", b"x")
    nul.write_bytes(nul.read_bytes().replace(b"nul_here", b"nul\0here"))  # zipfile cannot write a NUL
    with pytest.raises(ExportError, match="NUL"):
        load(nul)
