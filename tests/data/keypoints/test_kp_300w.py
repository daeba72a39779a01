"""300W .pts: the generator's files read back, the standard 68-point flip, hand-made
edge cases, bad and hostile input, and the fuzzed parser."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fastkp.data import DatasetError
from fastkp.data.flips import flip_from_names
from fastkp.data.keypoint_samples import points_box
from fastkp.data.synth.w300 import make_300w
from fastkp.data.w300 import FLIP_68, NAMES_68, PTS_SHIFT, load_300w, parse_pts
from support.keypoints import GOOD, N, SIZE, _all, _check_samples, _pts, number


def test_300w_flip_is_the_standard_68_point_involution():
    flip = np.array(FLIP_68)
    assert sorted(flip.tolist()) == list(range(68)) and (flip[flip] == np.arange(68)).all()
    assert flip[36] == 45 and flip[0] == 16 and flip[30] == 30 and flip[8] == 8 and flip[48] == 54
    assert flip_from_names(NAMES_68, "names").tolist() == list(FLIP_68)  # the names say the same


def test_300w_round_trip(trees):
    root = trees["300w"]
    d = load_300w(root)
    _check_samples(d, 68)
    assert len(d.valid) == round(0.2 * N) and all("/valid/" in s.path for s in d.valid)
    assert not any("/valid/" in s.path for s in d.train)
    for s in _all(d):
        pts = Path(s.path).with_suffix(".pts").read_text().splitlines()[3:-1]
        written = np.array([[float(v) for v in line.split()] for line in pts], np.float32)
        np.testing.assert_allclose(s.keypoints, written + np.float32(PTS_SHIFT), atol=1e-4)
        assert (s.visibility == 2).all()
        np.testing.assert_allclose(s.box, points_box(s.keypoints, s.size), atol=1e-4)
    assert any(s.path.endswith(".png") for s in _all(d)) and any(s.path.endswith(".jpg") for s in _all(d))
    mirrored = d.train[0].keypoints.copy()
    mirrored[:, 0] = SIZE[1] - mirrored[:, 0]
    flip = np.array(d.meta.flip_index)
    assert mirrored[flip][36, 0] < mirrored[flip][45, 0]  # still left of 45 after a flip


def test_300w_random_split_without_a_valid_folder(tmp_path):
    root = make_300w(tmp_path / "f", 10, size=(48, 48), valid_folder=False)
    a, b = load_300w(root, seed=3), load_300w(root, seed=3)
    assert [s.path for s in a.valid] == [s.path for s in b.valid] and len(a.valid) == 2
    assert len(load_300w(root, valid_frac=0.5).valid) == 5


BAD_PTS = {
    "version": (_pts(GOOD, "version: 2\nn_points: 68\n{\n"), "line 1: only 'version: 1'"),
    "no version": (_pts(GOOD, "n_points: 68\n{\n"), "line 1: expected 'version"),
    "n_points vs lines": (_pts(GOOD[:-1]), "line 2: n_points is 68 but 67 point lines follow"),
    "n_points not a count": (_pts(GOOD, "version: 1\nn_points: x\n{\n"), "line 2: n_points 'x'"),
    "not 68": (_pts(GOOD[:67], "version: 1\nn_points: 67\n{\n"), "the 300W mark-up has 68"),
    "no brace": (_pts(GOOD, "version: 1\nn_points: 68\n"), "line 3: expected '{'"),
    "no closing": (_pts(GOOD)[:-3], "no closing"),
    "after": (_pts(GOOD) + "extra\n", "line 73: text after"),
    "three values": (_pts(GOOD[:5] + ["1 2 3"] + GOOD[6:]), "line 9: expected 'x y'"),
    "nan": (_pts(GOOD[:7] + ["nan 2"] + GOOD[8:]), "line 11: point 7: 'nan'"),
    "far outside": (_pts(["900 20"] + GOOD[1:]), "point 0 at"),
}


@pytest.mark.parametrize("case", BAD_PTS)
def test_300w_bad_pts_names_file_and_line(copy, case, caplog):
    root = copy("300w")
    target = sorted(root.rglob("*.pts"))[3]
    text, match = BAD_PTS[case]
    target.write_text(text)
    with pytest.raises(DatasetError, match=match) as info:
        load_300w(root)
    assert str(target) in str(info.value)
    with caplog.at_level(logging.WARNING, logger="fastkp.data"):
        d = load_300w(root, on_error="skip")
    assert len(_all(d)) == N - 1
    [record] = caplog.records
    assert "skipped 1 bad sample" in record.getMessage() and target.name in record.getMessage()


def test_300w_points_outside_the_image_are_kept(copy):
    root = copy("300w")
    target = sorted(root.rglob("*.pts"))[0]
    target.write_text(_pts(["-5 -7"] + GOOD[1:-1] + [f"{SIZE[1] + 9} 3"]))
    s = next(s for s in _all(load_300w(root)) if Path(s.path).stem == target.stem)
    assert s.keypoints[0].tolist() == [-5.5, -7.5] and s.keypoints[67, 0] == SIZE[1] + 8.5
    assert s.box[0] < -5.5 and s.box[2] > SIZE[1] + 8.5  # the box follows them out of the image


@pytest.mark.parametrize("case", ["no image", "two images", "not an image"])
def test_300w_image_problems(copy, case):
    root = copy("300w")
    pts = sorted(root.rglob("*.pts"))[2]
    image = next(p for p in pts.parent.iterdir() if p.stem == pts.stem and p.suffix != ".pts")
    if case == "no image":
        image.unlink()
    elif case == "two images":
        shutil.copy(image, image.with_suffix(".png" if image.suffix == ".jpg" else ".jpg"))
    else:
        image.write_bytes(b"not a picture")
    with pytest.raises(DatasetError, match=pts.stem):
        load_300w(root)
    assert len(_all(load_300w(root, on_error="skip"))) == N - 1


def test_300w_dataset_level_problems(tmp_path, copy):
    with pytest.raises(DatasetError, match="no .pts files"):
        load_300w(tmp_path, on_error="skip")
    root = copy("300w")
    for pts in (root / "valid").rglob("*.pts"):
        pts.unlink()
    with pytest.raises(DatasetError, match="empty validation"):
        load_300w(root)
    with pytest.raises(ValueError, match="valid_frac"):
        load_300w(root, valid_frac=1.0)


# ---- garbage ------------------------------------------------------------------------------------

line = st.lists(number, max_size=4).map(" ".join)
pts_text = st.one_of(
    st.text(max_size=300),
    st.builds(lambda head, n, body, tail: f"{head}\nn_points: {n}\n{{\n" + "\n".join(body) + f"\n{tail}",
              st.sampled_from(["version: 1", "version:1", "version: 2", ""]), st.integers(-2, 5),
              st.lists(line, max_size=6), st.sampled_from(["}", "}\nx", "", "} "])),
)


@settings(max_examples=150, deadline=None)
@given(pts_text)
def test_parse_pts_garbage(text):
    try:
        points = parse_pts(text, "fuzz.pts")
    except DatasetError as err:
        event("DatasetError")
        assert "fuzz.pts" in str(err)
    else:
        event("read")
        assert points.ndim == 2 and points.shape[1] == 2 and np.isfinite(points).all()
