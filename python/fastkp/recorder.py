"""What a run reports: console lines, one table row per epoch, ``metrics.jsonl``.

Only rank 0 prints or writes; ``metrics.jsonl`` is rewritten whole (atomically)
after every epoch, so it holds each epoch once, resumed runs included.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from .atomic import atomic_writer
from .runstate import RunState

WIDTH = 14
FORMATS = {"time_s": ".1f", "threshold": ".2f"}  # other floats: .5f


class Recorder:
    def __init__(self, out: Path, rank: int, columns: Sequence[str]):
        self.out = out
        self.rank = rank
        self.columns = ["epoch", "train_loss", "valid_loss", *columns, "time_s"]

    def log(self, line: str) -> None:
        """One line on stdout (through tqdm, so progress bars stay intact)."""
        if self.rank == 0:
            tqdm.write(line, file=sys.stdout)

    def estimate(self, epochs_left: int, epoch_s: float, steps: int) -> None:
        """After a run's first epoch: about how long the rest takes."""
        seconds = epochs_left * epoch_s
        took = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
        self.log(f"about {took} for the {epochs_left} epoch(s) left ({steps} steps each)")

    def header(self) -> None:
        self.log("  ".join(f"{c:>{WIDTH}}" for c in self.columns))

    def row(self, metrics: dict) -> None:
        cells = []
        for c in self.columns:
            v = metrics.get(c)
            if isinstance(v, float):
                cells.append(f"{v:>{WIDTH}{FORMATS.get(c, '.5f')}}")
            else:
                cells.append(f"{v:>{WIDTH}d}" if isinstance(v, int) else f"{v!s:>{WIDTH}}")
        self.log("  ".join(cells))

    def write_metrics(self, history: list[dict]) -> None:
        if self.rank == 0:
            with atomic_writer(self.out / "metrics.jsonl") as f:
                f.write("".join(json.dumps(h) + "\n" for h in history).encode("utf-8"))

    def summary(self, monitor: str, state: RunState, baseline: dict[str, float], best_path: Path) -> None:
        """One line at the end of a run: the best epoch against the constant predictor."""
        if state.best is None:
            self.log(f"no epoch gave a finite {monitor}; nothing was saved as {best_path.name}")
            return
        epoch = next(h["epoch"] for h in state.history if h.get(monitor) == state.best)
        versus = f" (constant predictor {baseline[monitor]:.4g})" if monitor in baseline else ""
        self.log(f"best {monitor} {state.best:.4g} at epoch {epoch}{versus}; model: {best_path}")
