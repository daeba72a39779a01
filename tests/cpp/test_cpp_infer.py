"""fastkp-infer (the C++ library fastkp::infer behind a command line): same numbers as
Python eager and TorchScript on the same pixels, JPEG decoding like PIL's, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fastkp.export import deploy_module, export_checkpoint, load
from fastkp.pipeline.reference import decode_rgb
from fastkp.predict import collect_images
from support.images import jpeg_variants, random_pixels, write_jpeg, write_ppm
from support.infer import json_lines, refused_lines, run_infer
from support.model_files import bad_model_files
from support.models import VOCAB, make_checkpoint, make_probe, probe_pixels
from support.predict import predict_record

# The tests call torch.jit directly (to make foreign files), which warns of its deprecation.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\..* is deprecated:FutureWarning")
SIZES = [(1, 1), (2, 3), (37, 81), (64, 48), (101, 67)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """kind -> (checkpoint, TorchScript file)."""
    d = tmp_path_factory.mktemp("models")
    out = {}
    for kind, keypoints in (("keypoints", True), ("probabilities", False)):
        ckpt = make_checkpoint(d / f"{kind}.pth", keypoints, size=(64, 48))
        export_checkpoint(ckpt, d / f"{kind}.pt")
        out[kind] = (ckpt, d / f"{kind}.pt")
    return out


@pytest.mark.parametrize("kind", ["keypoints", "probabilities"])
def test_cpp_matches_eager_and_torchscript(models, kind, tmp_path):
    ckpt, path = models[kind]
    eager, meta, _ = deploy_module(ckpt)
    scripted = load(path)
    images = {hw: random_pixels(*hw, seed=hw[0]) for hw in SIZES}
    files = [write_ppm(tmp_path / f"{h}x{w}.ppm", px) for (h, w), px in images.items()]
    records = json_lines(run_infer(path, *files, "--threads", "2").stdout)
    assert [r["image"] for r in records] == [str(f) for f in files]
    for record, (hw, pixels) in zip(records, images.items()):
        assert (record["height"], record["width"]) == hw
        x = torch.from_numpy(pixels)[None]
        with torch.no_grad():
            want = eager(x)[0].numpy()
        ts = scripted(x)[0].numpy()
        if kind == "keypoints":
            got = np.array(record["keypoints"])
            np.testing.assert_allclose(got, want, atol=1e-3, rtol=0, err_msg=f"C++ vs eager at {hw}")
            np.testing.assert_allclose(got, ts, atol=1e-3, rtol=0, err_msg=f"C++ vs TorchScript at {hw}")
        else:
            assert list(record["probabilities"]) == VOCAB
            got = np.array(list(record["probabilities"].values()))
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=f"C++ vs eager at {hw}")
            np.testing.assert_allclose(got, ts, atol=1e-5, rtol=0, err_msg=f"C++ vs TorchScript at {hw}")
            assert record["labels"] == [v for v, p in zip(VOCAB, got) if p > meta.heads[0]["threshold"]]


def test_cpp_decodes_like_pil(tmp_path):
    """A probe model reveals the pixels fastkp-infer decoded: they equal PIL's decode with
    ImageOps.exif_transpose and RGB conversion (the Python loaders' decode)."""
    pixels = random_pixels(23, 41, seed=3)  # odd sizes exercise chroma upsampling at the edges
    probes = {hw: make_probe(tmp_path / f"probe{hw[0]}x{hw[1]}.pt", hw) for hw in ((23, 41), (41, 23))}
    for name, path in jpeg_variants(tmp_path, pixels).items():
        want = decode_rgb(str(path))
        (record,) = json_lines(run_infer(probes[want.shape[:2]], path).stdout)
        got = probe_pixels(record)
        assert got.shape == want.shape, name
        assert np.abs(got.astype(int) - want).max() <= 1, name  # exact here; two libjpeg-turbo builds may round apart


def test_cpp_jpeg_keypoints_within_half_a_pixel_of_python(models, tmp_path):
    """fastkp-infer decoding the JPEG itself vs python -m fastkp.predict (PIL decode)."""
    _, path = models["keypoints"]
    files = [write_jpeg(tmp_path / "plain.jpg", random_pixels(240, 320, seed=1))]
    exif = Image.Exif()
    exif[0x0112] = 6
    files.append(write_jpeg(tmp_path / "rotated.jpg", random_pixels(97, 131, seed=2), exif=exif.tobytes()))
    cpp = json_lines(run_infer(path, *files).stdout)
    py = [predict_record(path, f) for f in files]
    for c, p in zip(cpp, py):
        assert (c["height"], c["width"]) == (p["height"], p["width"])
        np.testing.assert_allclose(c["keypoints"], p["keypoints"], atol=0.5, rtol=0)
    assert (cpp[1]["height"], cpp[1]["width"]) == (131, 97)  # EXIF 6: shown turned by 90 degrees


def test_cpp_and_python_walk_folders_alike(models, tmp_path):
    _, path = models["probabilities"]
    (tmp_path / "b" / "deep").mkdir(parents=True)
    for name in ("b/deep/z.JPG", "b/a.jpeg", "c.ppm", "a.jpg"):
        write_jpeg(tmp_path / name, random_pixels(20, 30)) if "ppm" not in name else \
            write_ppm(tmp_path / name, random_pixels(20, 30))
    (tmp_path / "notes.txt").write_text("not an image")
    records = json_lines(run_infer(path, tmp_path, "--threads", "1").stdout)
    assert [r["image"] for r in records] == collect_images([str(tmp_path)])
    assert [r["image"][len(str(tmp_path)) + 1:] for r in records] == ["a.jpg", "b/a.jpeg", "b/deep/z.JPG", "c.ppm"]


def test_cpp_bad_model_files(models, tmp_path):
    ckpt, good = models["keypoints"]
    image = write_ppm(tmp_path / "x.ppm", random_pixels(8, 8))
    for name, (path, says) in bad_model_files(good, ckpt, tmp_path).items():
        proc = run_infer(path, image, check=False)
        assert proc.returncode == 2, name
        assert proc.stdout == "", name
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and says in lines[0], (name, proc.stderr)


def test_cpp_bad_images(models, tmp_path):
    """Each unusable image: one stderr line naming it; the good ones still answered; exit 1."""
    _, path = models["keypoints"]
    good = write_jpeg(tmp_path / "good.jpg", random_pixels(40, 60))
    data = good.read_bytes()
    bad = {
        "truncated.jpg": data[: len(data) // 2],
        "garbage.jpg": bytes(range(256)) * 4,
        "empty.jpg": b"",
        "garbled.jpg": data[:400] + bytes(b ^ 0x5A for b in data[400:-2]) + data[-2:],
        "short.ppm": b"P6\n10 10\n255\n" + bytes(50),
        "sixteen.ppm": b"P6\n2 2\n65535\n" + bytes(24),
    }
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    Image.fromarray(random_pixels(8, 8)).save(tmp_path / "image.tif")  # PIL reads it, fastkp-infer does not
    refused_lines(path, good, [tmp_path / n for n in [*bad, "image.tif", "missing.jpg"]])


@pytest.mark.parametrize("args", [[], ["model.pt"], ["m.pt", "x.jpg", "--threads", "0"],
                                  ["m.pt", "x.jpg", "--bench", "x"], ["m.pt", "x.jpg", "--frobnicate"],
                                  ["m.pt", "x.jpg", "--device"]])
def test_cpp_usage_errors(args):
    proc = run_infer(*args, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()  # the usage block is for --help
    assert line.startswith("fastkp-infer: ") and line.endswith("(fastkp-infer --help shows the usage)")


def test_cpp_bench_prints_timing(models, tmp_path):
    _, path = models["probabilities"]
    image = write_ppm(tmp_path / "x.ppm", random_pixels(30, 40))
    (line,) = json_lines(run_infer(path, image, image, "--bench", "2", "--threads", "1").stdout)
    b = line["bench"]
    assert (b["batch"], b["runs"], b["threads"], b["height"], b["width"]) == (2, 2, 1, 30, 40)
    assert 0 < b["min_ms"] <= b["median_ms"] and b["images_per_s"] > 0 and b["format"] == "torchscript"


def test_cpp_version():
    out = run_infer("--version").stdout
    assert out.startswith("fastkp ") and "torch 2." in out and "CPU kernels" in out


def test_cpp_cuda_without_a_device(models, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device exists")
    _, path = models["keypoints"]
    proc = run_infer(path, write_ppm(tmp_path / "x.ppm", random_pixels(8, 8)), "--device", "cuda", check=False)
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr


@pytest.mark.cuda
def test_cpp_cuda_matches_cpu(models, tmp_path):
    _, path = models["keypoints"]
    image = write_ppm(tmp_path / "x.ppm", random_pixels(97, 131))
    (cpu,) = json_lines(run_infer(path, image).stdout)
    (gpu,) = json_lines(run_infer(path, image, "--device", "cuda").stdout)
    np.testing.assert_allclose(gpu["keypoints"], cpu["keypoints"], atol=1e-2)
