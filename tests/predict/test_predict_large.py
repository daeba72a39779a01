"""Large images through python -m fastkp.predict (issue 24): the model gets the uint8 sample
of its input size (fastkp.pipeline.shrink), never a float copy of the whole image; the
answer stays that of the whole image."""

from __future__ import annotations

import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fastkp.export import export_checkpoint, load
from fastkp.pipeline import shrink
from fastkp.predict import predict_image
from support.models import make_checkpoint


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("large")
    export_checkpoint(make_checkpoint(d / "kp.pth", True, size=(64, 64)), d / "kp.pt")
    return d / "kp.pt"


def _picture(path, h: int, w: int):
    """Shapes on a gradient: compresses well as PNG, yet varies everywhere."""
    im = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for i in range(12):
        box = [w * i // 13, h * (i % 5) // 6, w * (i + 2) // 13, h * (i % 5 + 1) // 6]
        draw.ellipse(box, fill=(40 * (i % 6), 200, 90))
    im.save(path)
    return path


def test_a_large_image_answers_as_the_whole_image_did(model, tmp_path):
    h, w = 2100, 2600
    assert h * w > shrink.LARGE
    path = _picture(tmp_path / "big.png", h, w)
    m = load(model)
    (result,) = predict_image(m, m.metadata.head_objects(), str(path))
    whole = m(torch.from_numpy(np.asarray(Image.open(path).convert("RGB")))[None])[0].numpy()
    np.testing.assert_allclose(result.answers[0], whole, atol=1e-3, rtol=0)
    assert result.record["height"] == h and result.record["width"] == w


_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)")


def _peak_bytes(model, image) -> int:
    """Peak RSS of a fastkp.predict process on ``image``, from its parent's getrusage."""
    cmd = [sys.executable, "-c", _PEAK, sys.executable, "-m", "fastkp.predict", str(model), str(image)]
    return int(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout)


def test_peak_memory_is_at_most_3_bytes_a_pixel_over_a_small_image(model, tmp_path):
    h = w = 4000
    big = _picture(tmp_path / "big.png", h, w)
    small = _picture(tmp_path / "small.png", 64, 64)
    extra = _peak_bytes(model, big) - _peak_bytes(model, small)
    network_input = 64 * 64 * 3 * 4
    assert extra <= 3 * h * w + network_input + (16 << 20), f"{extra / 2**20:.0f} MiB over a 64 x 64 image"
