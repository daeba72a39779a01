"""The export formats come from one table: the CLI's choices, fastkp.json's check and the
loaders all read it, and an unknown format is refused naming the known ones."""

from __future__ import annotations

import pytest

from fastkp.errors import UsageError
from fastkp.export import formats
from fastkp.export.__main__ import get_args_parser


def test_the_table_holds_the_three_formats_torchscript_first():
    assert formats.names() == ("torchscript", "pt2", "onnx")
    assert [formats.get(n).device_bound for n in formats.names()] == [False, True, False]
    action = next(a for a in get_args_parser()._actions if a.dest == "format")
    assert tuple(action.choices) == formats.names() and action.default == "torchscript"


def test_an_unknown_format_is_refused():
    with pytest.raises(UsageError, match="torchscript, pt2, onnx, got 'tflite'"):
        formats.get("tflite")
