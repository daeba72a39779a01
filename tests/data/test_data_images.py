"""Image headers: displayed size with EXIF orientation, JPEG/PNG only, no pixel decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, ImageOps

from fastkp.data import DatasetError, load_biwi, load_landmarks, load_pascal, read_header
from fastkp.data.synth import make_biwi, make_landmarks, make_pascal

H, W = 48, 64


def _encode(mode: str = "RGB", fmt: str = "JPEG", orientation: int | None = None, size=(W, H)) -> bytes:
    rng = np.random.default_rng(0)
    channels = {"L": 1, "RGB": 3, "CMYK": 4}[mode]
    data = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8).squeeze()
    im = Image.fromarray(data, mode=mode) if mode != "CMYK" else Image.frombytes("CMYK", size, data.tobytes())
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    im.save(out, fmt, exif=exif)
    return out.getvalue()


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("fmt, suffix", [("JPEG", "jpg"), ("PNG", "png")])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_displayed_size(tmp_path, fmt, suffix, orientation):
    path = _write(tmp_path, f"o{orientation}.{suffix}", _encode(fmt=fmt, orientation=orientation))
    header = read_header(path)
    assert header.stored_size == (H, W)
    assert header.orientation == orientation
    swapped = orientation >= 5
    assert header.size == ((W, H) if swapped else (H, W))
    with Image.open(path) as im:  # decoding is fine here: this is the oracle
        shown = ImageOps.exif_transpose(im)
        assert header.size == (shown.height, shown.width)


def test_orientation_6_jpeg_written_by_pil(tmp_path):
    path = _write(tmp_path, "rot.jpg", _encode(orientation=6))
    assert read_header(path).size == (W, H)


@pytest.mark.parametrize("value", [0, 9, 300])
def test_out_of_range_orientation_counts_as_upright(tmp_path, value):
    path = _write(tmp_path, "odd.jpg", _encode(orientation=value))
    assert read_header(path).size == (H, W)
    assert read_header(path).orientation == 1


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grayscale_and_cmyk_jpegs_are_accepted(tmp_path, mode):
    header = read_header(_write(tmp_path, f"{mode}.jpg", _encode(mode=mode)))
    assert header.mode == mode and header.format == "JPEG" and header.size == (H, W)


def test_not_an_image(tmp_path):
    path = _write(tmp_path, "text.jpg", b"this is not an image\n")
    with pytest.raises(DatasetError, match="text.jpg"):
        read_header(path)


@pytest.mark.parametrize("fmt, keep", [("JPEG", 20), ("JPEG", 100), ("PNG", 16), ("PNG", 30)])
def test_cut_header(tmp_path, fmt, keep):
    path = _write(tmp_path, "cut.img", _encode(fmt=fmt)[:keep])
    with pytest.raises(DatasetError, match="cut.img"):
        read_header(path)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="nothere.jpg"):
        read_header(tmp_path / "nothere.jpg")


def test_tilde_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _write(tmp_path, "x.jpg", _encode(orientation=6))
    assert read_header("~/x.jpg").size == (W, H)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_rejected(tmp_path, fmt):
    out = io.BytesIO()
    Image.new("RGB", (W, H)).save(out, fmt)
    with pytest.raises(DatasetError, match="other.img"):
        read_header(_write(tmp_path, "other.img", out.getvalue()))


def test_damaged_exif_is_an_error(tmp_path):
    data = _encode(orientation=6)
    start = data.index(b"Exif\x00\x00") + 6
    broken = data[:start] + b"XX" + data[start + 2 :]  # byte-order mark destroyed
    with pytest.raises(DatasetError, match="badexif.jpg"):
        read_header(_write(tmp_path, "badexif.jpg", broken))


_JPEG, _PNG = _encode(orientation=6), _encode(fmt="PNG", orientation=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.integers(0, len(_JPEG)).map(lambda n: _JPEG[:n]),
        st.integers(0, len(_PNG)).map(lambda n: _PNG[:n]),
        st.tuples(st.integers(0, len(_JPEG) - 1), st.binary(min_size=1, max_size=8)).map(
            lambda p: _JPEG[: p[0]] + p[1] + _JPEG[p[0] + len(p[1]) :]
        ),
    )
)
def test_garbage_bytes_raise_dataset_error_or_read(tmp_path, data):
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    try:
        header = read_header(path)
    except DatasetError as err:
        assert "fuzz.img" in str(err)
    else:
        assert header.format in ("JPEG", "PNG") and min(header.size) > 0


# ---- readers never decode pixels ------------------------------------------------------------


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("nodecode")
    return (
        make_biwi(root / "biwi", persons=2, frames_per_person=3, size=(96, 128)),
        make_pascal(root / "pascal", 6, size=(60, 80)),
        make_landmarks(root / "landmarks", 6, size=(64, 64)),
    )


def test_readers_do_not_decode_pixels(trees, monkeypatch):
    calls = []

    def refuse(self, *args, **kwargs):
        calls.append(self)
        raise AssertionError("a reader decoded pixels")

    monkeypatch.setattr(Image.Image, "load", refuse)
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    biwi, pascal, landmarks = trees
    with pytest.raises(AssertionError):  # the patch does catch decoding
        Image.open(next(biwi.glob("*/*.jpg"))).convert("RGB")
    calls.clear()

    d = load_biwi(biwi)
    train, valid = d.train, d.valid
    assert len(train) + len(valid) == 6
    d = load_pascal(pascal)
    train, valid = d.train, d.valid
    assert len(train) + len(valid) == 6
    d = load_landmarks(landmarks)
    train, valid = d.train, d.valid
    assert len(train) + len(valid) == 6
    assert calls == []


def test_a_nul_byte_in_a_file_name_is_a_dataset_error(tmp_path):
    """Not the ValueError os.open raises: one line naming the file (found by hypothesis)."""
    from fastkp.data.paths import image_name

    with pytest.raises(DatasetError, match="NUL byte"):
        read_header(str(tmp_path / "a\0b.jpg"))
    with pytest.raises(DatasetError, match="labels.csv: line 3: fname 'a\\\\x00b.jpg' holds a NUL byte"):
        image_name("a\0b.jpg", "labels.csv: line 3")
