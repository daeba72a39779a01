"""300W .pts: the generator's files read back, the standard 68-point flip, hand-made
edge cases, bad and hostile input, files as the iBUG tools write them (version 1.0, CRLF,
trailing blank lines), 300-VW's video layout and its split, and the fuzzed parser, whose
fast path must agree with its line-by-line one."""

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
from fastkp.data.synth.__main__ import cli
from fastkp.data.synth.w300 import PTS_STYLES, make_300vw, make_300w
from fastkp.data.synth.w300 import pts_text as pts_bytes
from fastkp.data.w300 import FLIP_68, NAMES_68, PTS_SHIFT, _parse_fast, _parse_lines, load_300w, parse_pts
from support.keypoints import GOOD, N, SIZE, _all, _check_samples, _pts, number


def test_300w_flip_is_the_standard_68_point_involution():
    flip = np.array(FLIP_68)
    assert sorted(flip.tolist()) == list(range(68)) and (flip[flip] == np.arange(68)).all()
    assert flip[36] == 45 and flip[0] == 16 and flip[30] == 30 and flip[8] == 8 and flip[48] == 54
    assert flip_from_names(NAMES_68, "names").tolist() == list(FLIP_68)  # the names say the same


def _written(pts: Path) -> np.ndarray:
    """The points of a generated .pts file as written, read without fastkp's parser."""
    lines = pts.read_bytes().decode().splitlines()
    body = lines[lines.index("{") + 1:lines.index("}")]
    return np.array([[float(v) for v in line.split()] for line in body], np.float32)


def test_300w_round_trip(trees):
    root = trees["300w"]
    d = load_300w(root)
    _check_samples(d, 68)
    assert len(d.valid) == round(0.2 * N) and all("/valid/" in s.path for s in d.valid)
    assert not any("/valid/" in s.path for s in d.train)
    assert d.meta.split == "ROOT/valid/ folder"
    for s in _all(d):
        np.testing.assert_allclose(s.keypoints, _written(Path(s.path).with_suffix(".pts")) + np.float32(PTS_SHIFT),
                                   atol=1e-4)
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
    assert a.meta.split == "random 0.2 of the faces, seed 3"
    assert len(load_300w(root, valid_frac=0.5).valid) == 5


BAD_PTS = {
    "version": (_pts(GOOD, "version: 2\nn_points: 68\n{\n"), "line 1: only 'version: 1'"),
    "version 1.1, CRLF": (_pts(GOOD, "version: 1.1\nn_points: 68\n{\n").replace("\n", "\r\n"),
                          "line 1: only 'version: 1' \\(or 1.0\\) is known, got 'version: 1.1'"),
    "version 1.0.0": (_pts(GOOD, "\nversion: 1.0.0\nn_points: 68\n{\n"), "line 2: only 'version: 1'"),
    "no version": (_pts(GOOD, "n_points: 68\n{\n"), "line 1: expected 'version"),
    "n_points vs lines": (_pts(GOOD[:-1]), "line 2: n_points is 68 but 67 point lines follow"),
    "n_points not a count": (_pts(GOOD, "version: 1\nn_points: x\n{\n"), "line 2: n_points 'x'"),
    "not 68": (_pts(GOOD[:67], "version: 1\nn_points: 67\n{\n"), "the 300W mark-up has 68"),
    "no brace": (_pts(GOOD, "version: 1\nn_points: 68\n"), "line 3: expected '{'"),
    "no closing": (_pts(GOOD)[:-3], "no closing"),
    "after": (_pts(GOOD) + "extra\n", "line 73: text after"),
    "after, CRLF": ((_pts(GOOD) + "\n\nextra\n").replace("\n", "\r\n"), "line 75: text after"),
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


# ---- as the iBUG tools write them: version 1.0, CRLF, trailing blank lines ---------------------


@pytest.mark.parametrize("version", ["1", "1.0", "1.00"])
@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("tail", ["", "\n", "  \n\t\n", "\r\n"])
def test_pts_as_the_tools_write_them(version, end, tail):
    text = end.join([f"version: {version} ", "n_points:  68", "{", *(p + " " for p in GOOD), "}"]) + end + tail
    expected = np.array([[float(v) for v in p.split()] for p in GOOD])
    fast = _parse_fast(text)
    assert fast is not None  # the way they are written takes the fast path
    np.testing.assert_array_equal(fast, expected)
    np.testing.assert_array_equal(_parse_lines(text, "f.pts"), expected)


def test_300w_reads_the_generators_styles_and_a_crlf_file_with_a_bom(trees, copy):
    files = sorted(trees["300w"].rglob("*.pts"))
    texts = [p.read_bytes() for p in files]
    for version, end, tail in PTS_STYLES:  # each style is in the demo and test trees
        assert any(t.startswith(f"version: {version}{end}".encode()) and t.endswith(f"}}{end}{tail}".encode())
                   for t in texts)
    assert all(_parse_fast(t.decode()) is not None for t in texts)
    root = copy("300w")
    target = root / files[0].relative_to(trees["300w"])
    before = next(s for s in _all(load_300w(root)) if Path(s.path).stem == target.stem)
    target.write_bytes(b"\xef\xbb\xbf" + pts_bytes(before.keypoints, 1) + b"\r\n \r\n")
    after = next(s for s in _all(load_300w(root)) if Path(s.path).stem == target.stem)
    np.testing.assert_allclose(after.keypoints, before.keypoints, atol=1e-3)


# ---- 300-VW: VIDEO/annot/FRAME.pts beside VIDEO/imgs/FRAME.jpg, split by video -------------------

VIDEOS = 5


@pytest.fixture(scope="module")
def vw(tmp_path_factory) -> Path:
    return make_300vw(tmp_path_factory.mktemp("vw") / "300vw", 3 * VIDEOS, seed=1, size=SIZE, videos=VIDEOS)


def _video(sample) -> str:
    return Path(sample.path).parents[1].name


def test_300vw_is_read_and_split_by_whole_videos(vw):
    d = load_300w(vw)
    _check_samples(d, 68)
    assert len(_all(d)) == 3 * VIDEOS and all(Path(s.path).parent.name == "imgs" for s in _all(d))
    for s in _all(d):
        written = _written(vw / _video(s) / "annot" / f"{Path(s.path).stem}.pts")
        np.testing.assert_allclose(s.keypoints, written + np.float32(PTS_SHIFT), atol=1e-4)
    assert d.meta.split == "random 0.2 of the videos (VIDEO/annot/ folders), seed 0"
    chosen = set()
    for seed in range(5):
        d = load_300w(vw, seed=seed)
        train, valid = {_video(s) for s in d.train}, {_video(s) for s in d.valid}
        assert not train & valid and len(valid) == 1 and len(train) == VIDEOS - 1 and len(d.valid) == 3
        assert [s.path for s in d.train] == sorted(s.path for s in d.train)
        chosen |= valid
    assert len(chosen) > 1  # the seed chooses the videos
    assert len({_video(s) for s in load_300w(vw, valid_frac=0.6).valid}) == 3


def test_300vw_image_lookup(vw, tmp_path):
    root = Path(shutil.copytree(vw, tmp_path / "vw"))
    beside = root / "002" / "annot" / "000001.png"
    shutil.copy(root / "002" / "imgs" / "000001.jpg", beside)  # an image beside its .pts comes first
    assert str(beside) in {s.path for s in _all(load_300w(root))}
    (root / "003" / "imgs" / "000002.jpg").unlink()
    pts = root / "003" / "annot" / "000002.pts"
    with pytest.raises(DatasetError) as info:
        load_300w(root)
    assert str(info.value) == f"{pts}: no image 000002{{.jpg,.jpeg,.png}} beside it or in {root / '003' / 'imgs'}"
    assert len(_all(load_300w(root, on_error="skip"))) == 3 * VIDEOS - 1
    shutil.copy(root / "003" / "imgs" / "000001.jpg", root / "003" / "imgs" / "000002.JPG")
    shutil.copy(root / "003" / "imgs" / "000001.jpg", root / "003" / "imgs" / "000002.png")
    with pytest.raises(DatasetError, match=r"000002.pts: several images in .*003/imgs: \['000002.JPG', '000002.png'\]"):
        load_300w(root)
    with pytest.raises(DatasetError, match="000001.pts: no image 000001.* beside it$"):
        load_300w(root / "001" / "annot")  # ROOT's own annot/: its imgs/ is outside ROOT


def test_300vw_valid_folder_mixed_trees_and_too_few_videos(vw, trees, tmp_path):
    root = Path(shutil.copytree(vw, tmp_path / "vw"))
    pts = sorted(trees["300w"].rglob("*.pts"))[0]
    for loose in (pts, next(p for p in pts.parent.iterdir() if p.stem == pts.stem and p != pts)):
        shutil.copy(loose, root / loose.name)  # a 300W face beside the videos: a unit of its own
    d = load_300w(root, valid_frac=0.5)
    assert d.meta.split == "random 0.5 of the videos (VIDEO/annot/ folders) and faces, seed 0"
    assert not {_video(s) for s in d.train} & {_video(s) for s in d.valid} - {tmp_path.name}
    assert len(_all(d)) == 3 * VIDEOS + 1
    (root / "valid").mkdir()
    (root / "005").rename(root / "valid" / "005")
    d = load_300w(root)
    assert d.meta.split == "ROOT/valid/ folder" and {_video(s) for s in d.valid} == {"005"} and len(d.valid) == 3
    two = make_300vw(tmp_path / "two", 4, size=(32, 32), videos=2)
    with pytest.raises(DatasetError, match=r"empty validation split \(2 usable videos x 0.2\)"):
        load_300w(two)
    assert len(load_300w(two, valid_frac=0.5).valid) == 2


def test_300vw_generator_and_command_line(tmp_path, capsys):
    args = ["--n", "6", "--videos", "3", "--seed", "2", "--size", "32x40"]
    assert cli(["300vw", str(tmp_path / "cli"), *args]) == 0
    api = make_300vw(tmp_path / "api", 6, seed=2, size=(32, 40), videos=3)
    files = sorted(p.relative_to(api) for p in api.rglob("*") if p.is_file())
    assert [str(f) for f in files[:4]] == ["001/annot/000001.pts", "001/annot/000002.pts",
                                          "001/imgs/000001.jpg", "001/imgs/000002.jpg"]
    assert files == sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").rglob("*") if p.is_file())
    assert all((api / f).read_bytes() == (tmp_path / "cli" / f).read_bytes() for f in files)  # same seed, same bytes
    capsys.readouterr()
    assert cli(["300vw", str(tmp_path / "few"), "--n", "2", "--videos", "3"]) == 2
    assert capsys.readouterr().err.strip() == "fastkp.data.synth: error: 2 frames are too few for 3 videos: at least one each"


# ---- garbage ------------------------------------------------------------------------------------

line = st.lists(number, max_size=4).map(" ".join)
pts_text = st.one_of(
    st.text(max_size=300),
    st.builds(lambda head, n, body, tail: f"{head}\nn_points: {n}\n{{\n" + "\n".join(body) + f"\n{tail}",
              st.sampled_from(["version: 1", "version:1", "version: 1.0", "version: 2", ""]), st.integers(-2, 5),
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


end = st.sampled_from(["\n", "\r\n", "\n", "\r\n", " \n", "\t\r\n", "\n\n", "\r\n\r\n", "\r"])
pair = st.lists(st.one_of(st.floats(-1e4, 1e4).map(repr), st.integers(-99, 9999).map(str)), min_size=2,
                max_size=2).map(" ".join)


@st.composite
def tool_text(draw) -> str:
    """.pts texts as tools might write them: version spellings, mixed line ends, blank and
    padded lines; mostly well formed, one in ten of each part not."""
    def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
        return st.integers(0, 9).flatmap(lambda k: bad if k == 0 else good)

    n = draw(mostly(st.integers(1, 4), st.integers(-1, 0)))
    version = draw(mostly(st.sampled_from(["1", "1.0", " 1 ", "\t1.00"]),
                          st.sampled_from(["1.", "1.1", "2", "01", "1.0.0", ""])))
    body = draw(st.lists(mostly(pair, line), min_size=max(n, 0), max_size=max(n, 0)))
    body += draw(mostly(st.just([]), st.lists(line)))
    tail = draw(st.lists(st.sampled_from(["", " "]), max_size=2))
    return "".join(p + draw(end) for p in [f"version:{version}", f"n_points: {n}", "{", *body, "}", *tail])


@settings(max_examples=300, deadline=None)
@given(tool_text())
def test_fast_and_line_by_line_parsers_agree(text):
    fast = _parse_fast(text)
    try:
        slow = _parse_lines(text, "f.pts")
    except DatasetError as err:
        assert fast is None and "f.pts" in str(err)
        event("refused")
        return
    event("fast" if fast is not None else "line by line only")
    if "\r" not in text.replace("\r\n", ""):  # a lone CR is a line end only to the line-by-line path
        assert fast is not None  # files read line by line are only the odd ones
    np.testing.assert_array_equal(fast if fast is not None else slow, slow)
