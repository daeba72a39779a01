"""Keypoint names in fastkp-infer's JSON lines: "names" right after "keypoints" when the
head's fastkp.json entry names its points, no "names" otherwise, prefixed with the head's
name like every key two heads write; the same keys as python -m fastkp.predict prints."""

from __future__ import annotations

import json
import zipfile

import pytest

from fastkp.export import export_checkpoint
from fastkp.heads import KeypointHead
from support.images import random_pixels, write_ppm
from support.infer import json_lines, run_infer
from support.model_files import rewrite_metadata
from support.models import make_checkpoint, make_heads_checkpoint
from support.predict import predict_record

NAMES = ["nose", 'a "quoted" tip', "über"]  # JSON escapes and UTF-8 pass through
ABSENT = object()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """One keypoints head (3 points); two, "left" (3 points) and "right" (1)."""
    d = tmp_path_factory.mktemp("names")
    export_checkpoint(make_checkpoint(d / "one.pth", True, size=(32, 32)), d / "one.pt")
    heads = [KeypointHead("left", n_keypoints=3), KeypointHead("right", n_keypoints=1)]
    export_checkpoint(make_heads_checkpoint(d / "two.pth", heads, "landmarks", (32, 32)), d / "two.pt")
    return {"one": d / "one.pt", "two": d / "two.pt"}


def with_names(model, dst, *names):
    """A copy of ``model`` whose i-th head entry has "names": names[i] (ABSENT: no field)."""
    with zipfile.ZipFile(model) as z:
        meta = json.loads(z.read(next(n for n in z.namelist() if n.endswith("extra/fastkp.json"))))
    for head, value in zip(meta["heads"], names):
        head.pop("names", None)
        if value is not ABSENT:
            head["names"] = value
    return rewrite_metadata(model, dst, json.dumps(meta))


@pytest.mark.parametrize("model, names, keys", [
    ("one", [NAMES], ["keypoints", "names"]),
    ("one", [None], ["keypoints"]),
    ("one", [ABSENT], ["keypoints"]),
    ("two", [NAMES, ["chin"]], ["left_keypoints", "left_names", "right_keypoints", "right_names"]),
    ("two", [NAMES, None], ["left_keypoints", "names", "right_keypoints"]),
], ids=["named", "null", "absent", "two named", "one of two named"])
def test_cpp_names_beside_keypoints(models, tmp_path, model, names, keys):
    path = with_names(models[model], tmp_path / "named.pt", *names)
    image = write_ppm(tmp_path / "x.ppm", random_pixels(20, 30))
    (cpp,) = json_lines(run_infer(path, image).stdout)
    assert list(cpp) == ["image", "height", "width", *keys]
    named = [k for k in keys if k.endswith("names")]
    assert [cpp[k] for k in named] == [n for n in names if n not in (None, ABSENT)]
    py = predict_record(path, image)
    assert list(py) == list(cpp) and [py[k] for k in named] == [cpp[k] for k in named]

