"""One error family, one exit-code table for every command."""

from __future__ import annotations

import argparse
import errno

import pytest

from fastkp import errors
from fastkp.checkpoint import CheckpointError
from fastkp.data import DatasetError
from fastkp.export import ExportError
from fastkp.learner import TrainingError, UsageError


def test_every_error_is_a_fastkp_error_importable_where_it_was():
    for cls in (DatasetError, CheckpointError, ExportError, UsageError, TrainingError):
        assert issubclass(cls, errors.FastkpError) and getattr(errors, cls.__name__) is cls
    assert issubclass(UsageError, ValueError)


@pytest.mark.parametrize("error, code", [
    (DatasetError("x"), 2), (CheckpointError("x"), 2), (ExportError("x"), 2), (UsageError("x"), 2),
    (TrainingError("x"), 3), (OSError(errno.ENOSPC, "No space left on device"), 2), (KeyboardInterrupt(), 130),
])
def test_exit_code_table(error, code, capsys):
    def main(args):
        raise error

    assert errors.exit_code(error) == code
    assert errors.run_cli("fastkp.x", main, argparse.Namespace()) == code
    (line,) = capsys.readouterr().err.splitlines()
    verb = "stopped" if code == 3 else "interrupted" if code == 130 else "error"
    assert line.startswith(f"fastkp.x: {verb}")


def test_os_errors_name_the_file(capsys):
    def main(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/last.pth")

    assert errors.run_cli("fastkp.train", main, argparse.Namespace()) == 2
    assert capsys.readouterr().err == "fastkp.train: error: /runs/x/last.pth: No space left on device\n"


def test_success_and_partial_pass_through():
    assert errors.run_cli("p", lambda a: errors.EXIT_OK, argparse.Namespace()) == 0
    assert errors.run_cli("p", lambda a: errors.EXIT_PARTIAL, argparse.Namespace()) == 1
    with pytest.raises(TypeError):
        errors.exit_code(RuntimeError("not ours"))
