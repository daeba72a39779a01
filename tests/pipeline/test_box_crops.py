"""Box crops: pixels follow points through the box window in both loaders, and the exported
model crops the same window with the same pixels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from fastkp.data import Sample
from fastkp.export.metadata import ModelMetadata
from fastkp.export.module import deploy_module_for
from fastkp.heads import KeypointHead
from fastkp.pipeline import reference, transform_points
from fastkp.pipeline.augment import draw
from fastkp.pipeline.boxes import BoxCrop, check_boxes
from fastkp.backbones import IMAGENET_MEAN, IMAGENET_STD
from support.loaders import LOADERS, OUT, STRONG, check_dots, dot_image

BOXED = dataclasses.replace(STRONG, box_scale=0.3, box_shift=0.15)
MEAN, STD = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)


@pytest.fixture(scope="module")
def boxed_dots(tmp_path_factory) -> list[Sample]:
    """Dots in a small region of larger images; the boxes hold them, one reaching outside."""
    root = tmp_path_factory.mktemp("boxed")
    out = []
    for i, hw in enumerate([(160, 200), (200, 160), (150, 220), (180, 180)] * 2):
        h, w = hw
        rng = np.random.default_rng(i)
        x0, y0 = rng.uniform(0, w - 70), rng.uniform(0, h - 60)
        pts = np.array([[x0 + 15, y0 + 15], [x0 + 55, y0 + 15], [x0 + 35, y0 + 45]], np.float32)
        box = np.array([x0 + 5, y0 + 5, x0 + 65, y0 + 55], np.float32)
        if i == 2:  # partly outside the image
            pts -= np.float32([x0 + 8, 0])
            box -= np.float32([x0 + 8, 0, x0 + 8, 0])
        path = root / f"boxed{i}.{'jpg' if i == 3 else 'png'}"
        Image.fromarray(dot_image(hw, pts)).save(path, quality=95)
        out.append(Sample(str(path), hw, pts, box=box))
    return out


@pytest.mark.parametrize("mode", ["pad", "squash"])
@pytest.mark.parametrize("kind", LOADERS)
def test_dots_land_on_the_keypoints_through_box_crops(boxed_dots, kind, mode):
    crop = BoxCrop(margin=0.6, mode=mode)  # wide enough that jitter keeps the dots in view
    loader = LOADERS[kind](boxed_dots, size=OUT, batch_size=4, aug=BOXED, seed=2, flip_index=[1, 0, 2],
                           num_threads=2 if kind == "dali" else 0, box_crop=crop)
    assert check_dots(boxed_dots, loader, epochs=2) >= 20
    valid = LOADERS[kind](boxed_dots, size=OUT, batch_size=4, train=False, num_threads=2 if kind == "dali" else 0,
                          box_crop=crop)
    assert check_dots(boxed_dots, valid) >= 12
    for batch in valid:  # validation: each window's corners are the output frame's corners
        assert batch["boxes"].shape == (len(batch["index"]), 4)
        boxes = np.stack([boxed_dots[i].box for i in batch["index"]])
        win = crop.windows(boxes, OUT)
        corners = np.stack([win[:, :2], win[:, :2] + win[:, 2:]], 1)
        mapped = transform_points(batch["matrix"].numpy().astype(np.float64), corners)
        np.testing.assert_allclose(mapped, np.broadcast_to([[0, 0], [OUT[1], OUT[0]]], mapped.shape), atol=1e-3)


def test_pad_keeps_the_aspect_and_squash_fills_the_frame():
    boxes = np.array([[10.0, 20.0, 30.0, 80.0], [0.0, 0.0, 0.5, 0.25]])
    pad = BoxCrop(0.5, "pad").windows(boxes, (60, 80))
    np.testing.assert_allclose(pad[0], [20 - 60, 50 - 45, 120, 90])  # 30x90, widened to the 4:3 frame
    np.testing.assert_allclose(pad[:, 2] / pad[:, 3], 80 / 60)
    np.testing.assert_allclose(pad[1, 2:], [2.0, 1.5])  # a box under a pixel counts as one pixel
    np.testing.assert_allclose(BoxCrop(0.0, "squash").windows(boxes, (60, 80))[0], [10, 20, 20, 60])
    for bad in (dict(margin=-0.1), dict(margin=5.0), dict(mode="letterbox")):
        with pytest.raises(ValueError, match="box"):
            BoxCrop(**bad)
    with pytest.raises(ValueError, match="box 1"):
        check_boxes(np.array([[0, 0, 1, 1], [5, 5, 5, 9]]), "here")


@pytest.mark.parametrize("box", [[5, 5, 5, 20], [10, 10, 2, 30], [0, float("nan"), 9, 9], [0, 0, 1e39, 5]])
def test_loaders_refuse_a_bad_box_naming_its_sample(boxed_dots, box):
    samples = [dataclasses.replace(s) for s in boxed_dots]
    samples[3].box = np.array(box, np.float64)
    with pytest.raises(ValueError, match=f"{samples[3].path}: box .* must be finite"):
        reference.build_loader(samples, size=OUT, batch_size=4, num_threads=0, box_crop=BoxCrop())


def test_box_jitter_leaves_whole_image_draws_alone():
    src = np.array([[100, 120]] * 5)
    a = draw(np.random.default_rng(3), src, OUT, BOXED)
    b = draw(np.random.default_rng(3), src, OUT, BOXED, np.array([[0, 0, 120, 100]] * 5, np.float64))
    np.testing.assert_array_equal(a.flipped, b.flipped)
    np.testing.assert_array_equal(a.contrast, b.contrast)
    assert not np.allclose(a.matrix, b.matrix)  # the same draws, then the window's own jitter
    still = draw(np.random.default_rng(3), src, OUT, dataclasses.replace(BOXED, box_scale=0, box_shift=0),
                 np.array([[0, 0, 120, 100]] * 5, np.float64))
    np.testing.assert_allclose(a.matrix, still.matrix, atol=1e-12)


def _metadata(crop: BoxCrop) -> ModelMetadata:
    head = KeypointHead(n_keypoints=3, flip_index=[1, 0, 2])
    return ModelMetadata(task="keypoints", arch="resnet18", input_size=OUT, mean=tuple(MEAN), std=tuple(STD),
                         heads=[head.export_entry()], export_format="torchscript", device="any", resize="squash",
                         fastkp_version="0", torch_version="0", box_crop=crop.to_dict())


class Identity(torch.nn.Module):
    def forward(self, x):
        return [x]


@pytest.mark.parametrize("mode", ["pad", "squash"])
def test_exported_crop_matches_the_loaders_window_and_pixels(boxed_dots, mode):
    """The deploy module's windows are BoxCrop's, its grid_sample crop shows what the
    reference loader's warp shows, and its points map back through the same window."""
    crop = BoxCrop(margin=0.3, mode=mode)
    module = deploy_module_for(Identity(), _metadata(crop))
    samples = [s for s in boxed_dots if s.path.endswith(".png")]
    boxes = np.stack([s.box for s in samples])
    origin, wh = module._windows(torch.from_numpy(boxes))
    np.testing.assert_allclose(torch.cat([origin, wh], 1).numpy(), crop.windows(boxes, OUT), rtol=1e-6, atol=1e-4)
    loader = reference.build_loader(samples, size=OUT, batch_size=len(samples), train=False, num_threads=0,
                                    box_crop=crop)
    batch = next(iter(loader))
    for j, i in enumerate(batch["index"].tolist()):
        pixels = torch.from_numpy(np.array(Image.open(samples[i].path).convert("RGB")))[None]
        x = pixels.permute(0, 3, 1, 2).float()
        o, w = module._windows(torch.from_numpy(samples[i].box[None]))
        mine = module._crop(x, o, w)[0] / 255.0
        theirs = batch["images"][j] * torch.tensor(STD).view(3, 1, 1).float() + torch.tensor(MEAN).view(3, 1, 1).float()
        assert (mine - theirs).abs().max() < 2.5 / 255  # bilinear taps agree to rounding
        pts = module.decoders[0](batch["keypoints"][j:j + 1], o, w)[0].numpy()
        vis = batch["visible"][j].numpy()
        np.testing.assert_allclose(pts[vis], samples[i].keypoints[vis], atol=1e-3)


def test_box_models_need_boxes_and_take_one_per_image():
    module = deploy_module_for(Identity(), _metadata(BoxCrop()))
    images = torch.zeros(2, 50, 60, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="one per image"):
        module(images, torch.zeros(3, 4))
    with pytest.raises(TypeError):
        module(images)
