"""One error family and one exit-code table for every fastkp command.

Library code raises a :class:`FastkpError` subclass whose message names the
file, line or argument at fault (never a command-line flag: the commands add
that). :func:`run_cli` turns them into one stderr line and an exit status:

====  ==========================================================================
0     done
1     some inputs failed but the others were answered (``fastkp.predict``)
2     usage, data or environment: bad flag or file, disk full, busy output folder,
      nothing to do
3     training stopped (non-finite loss)
130   interrupted (Ctrl-C)
143   terminated (SIGTERM, handled like Ctrl-C: nothing is left half-written)
====  ==========================================================================
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class FastkpError(Exception):
    """Base of every error fastkp raises on purpose; ``exit_code`` is what a command returns."""

    exit_code = EXIT_USAGE
    verb = "error"  # "fastkp.train: error: ..."


class DatasetError(FastkpError):
    """Bad data; the message names the file (and line or field where there is one)."""


class CheckpointError(FastkpError):
    """A checkpoint that is missing, corrupt, foreign or of another run."""


class ExportError(FastkpError):
    """A model file that is missing, corrupt, foreign, or unusable as asked; names the file."""


class UsageError(FastkpError, ValueError):
    """A bad argument (task, arch, size, batch size, device, weights file, setting);
    ``setting`` names the setting at fault where there is one (a command names its flag)."""

    def __init__(self, message: str, setting: str | None = None):
        super().__init__(message)
        self.setting = setting


class TrainingError(FastkpError):
    """A run that cannot go on (non-finite loss): the message says why and what was saved."""

    exit_code = EXIT_STOPPED
    verb = "stopped"


class ReportedElsewhere(UsageError):
    """An error another process has already reported (rank 0 of a torchrun run, for the
    others): its exit status, without a second line."""


class Terminated(BaseException):
    """SIGTERM, raised where the program is so that it unwinds as after Ctrl-C."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line naming ``--help`` instead of the whole
    usage block; the exit status stays 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def exit_code(error: BaseException) -> int:
    """The exit status a command returns for ``error`` (see the module docstring)."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, Terminated):
        return EXIT_TERMINATED
    if isinstance(error, FastkpError):
        return error.exit_code
    if isinstance(error, OSError):  # disk full, permission denied, ...
        return EXIT_USAGE
    raise TypeError(f"no exit code for {type(error).__name__}")


def run_cli(prog: str, main: Callable[[argparse.Namespace], int], args: argparse.Namespace,
            interrupted: str = "interrupted") -> int:
    """Run ``main(args)``; a FastkpError or OSError becomes one line on stderr and its exit code;
    Ctrl-C and SIGTERM print ``interrupted`` and return 130 and 143."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return main(args)
    except (KeyboardInterrupt, Terminated) as e:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return exit_code(e)
    except ReportedElsewhere as e:
        return e.exit_code
    except FastkpError as e:
        print(f"{prog}: {e.verb}: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"{prog}: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame) -> None:
    raise Terminated()


def os_reason(error: BaseException) -> str:
    """The OS's words for ``error`` or for an OSError behind it (torch wraps write errors in
    RuntimeError); else the first line of its message."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
