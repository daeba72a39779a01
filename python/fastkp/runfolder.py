"""The run's output folder: one run at a time, no stale temporaries, checkpoints in a
consistent order.

- rank 0 holds ``fcntl.flock`` on ``OUT/.fastkp.lock`` for the whole run (the
  kernel releases it when the process dies, kill -9 included); a second run on
  the same folder is refused naming the holder's pid, written in the file only
  for that message (never through a symlink); under torchrun every rank leaves
  with that refusal, rank 0 alone saying it;
- once the lock is held, temporaries that an interrupted save left
  (``.last.pth.*.tmp``, ...) are removed;
- each epoch writes its checkpoint once and publishes it as ``best.pth`` (a hard
  link, when the epoch is the best) before ``last.pth``: a kill between the two
  leaves ``last.pth`` one epoch behind, and resuming redoes that epoch and
  writes both again, so ``best`` is never recorded without its file;
- that write runs in a background thread while the next epoch trains, from a copy
  of the state taken at the epoch's end; the next save, the end of the run and any
  way out of it (an error, Ctrl-C) wait for it first and raise its error, so a run
  never ends, successfully or not, with a save still in flight.
"""

from __future__ import annotations

import errno
import fcntl
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch.utils._pytree import tree_map

from .checkpoint import checkpoint_payload, write_checkpoint
from . import distributed as dist
from .errors import ReportedElsewhere, UsageError

LOCK = ".fastkp.lock"
OUTPUTS = ("last.pth", "best.pth", "nan_stop.pth", "metrics.jsonl", "config.json", "lr_find.png",
           "show_batch.png", "show_results.png", "losses.png")


class RunFolder:
    """``with RunFolder(out, rank):`` around a run (see the module docstring)."""

    def __init__(self, out: Path, rank: int):
        self.out, self.rank = out, rank
        self._lock: int | None = None
        self._saver = ThreadPoolExecutor(1, thread_name_prefix="fastkp-save")
        self._pending: Future | None = None

    def __enter__(self) -> RunFolder:
        refused: Exception | None = None
        if self.rank == 0:
            try:
                self._open()
            except (UsageError, OSError) as e:
                refused = e
        # every rank learns rank 0's verdict: the others leave quietly with the same exit
        # status instead of failing later in a collective that rank 0 never joins, and all
        # leave together (torchrun stops the rest once one has gone)
        reason = dist.broadcast_object(None if refused is None else str(refused))
        if reason is not None:
            dist.barrier()
        if refused is not None:
            raise refused
        if reason is not None:
            raise ReportedElsewhere(reason)
        return self

    def _open(self) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise UsageError(f"output folder {self.out} is a file", setting="out")
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except (NotADirectoryError, FileExistsError):
            raise UsageError(f"output folder {self.out}: a part of the path is a file", setting="out") from None
        self._take_lock()
        self._remove_temporaries()

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            try:
                self.wait()
            except Exception as save_error:
                if exc is None:
                    raise
                exc.add_note(f"and the save in flight failed: {save_error}")  # the run's own error wins
        finally:
            self._saver.shutdown()
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing releases the flock
            self._lock = None

    def _take_lock(self) -> None:
        try:  # O_NOFOLLOW: a symlink planted there would get the pid written into its target
            fd = os.open(self.out / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise UsageError(f"{self.out / LOCK} is a symbolic link; fastkp writes its lock file itself: remove "
                             "the link", setting="out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise UsageError(f"{self.out} is in use by another run (pid {holder}); wait for it or choose "
                                 "another output folder", setting="out") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock = fd

    def _remove_temporaries(self) -> None:
        for name in OUTPUTS:
            for tmp in self.out.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def save_epoch(self, spec: Any, config: Any, state: dict[str, Any], improved: bool) -> None:
        """``best.pth`` (when improved), then ``last.pth``: one file written, in the background."""
        if self.rank == 0:
            self.wait()
            payload = tree_map(lambda x: x.detach().clone() if isinstance(x, torch.Tensor) else x,
                               checkpoint_payload(spec, config, **state))
            self._pending = self._saver.submit(write_checkpoint, self.out / "last.pth", payload,
                                               [self.out / "best.pth"] if improved else [])

    def wait(self) -> None:
        """Until the save in flight is on disk; raises its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
