"""The ``on_error`` policy every reader shares: raise at once, or skip and count."""

from __future__ import annotations

import logging

from .sample import DatasetError

log = logging.getLogger("fastkp.data")

ON_ERROR = ("raise", "skip")
SHOWN = 3  # bad samples named in the summary line


def check_on_error(on_error: str) -> str:
    """Return ``on_error`` if it is a known policy, else raise ValueError."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    return on_error


class Skipper:
    """Collects per-sample errors under ``on_error="skip"``; re-raises under "raise"."""

    def __init__(self, on_error: str, source: str) -> None:
        self.skip = check_on_error(on_error) == "skip"
        self.source = source
        self.errors: list[str] = []

    def bad(self, err: DatasetError) -> None:
        """Handle one bad sample: raise it, or record it to report later."""
        if not self.skip:
            raise err
        self.errors.append(str(err))

    def report(self) -> None:
        """Log one warning line with the count and the first few bad samples."""
        if self.errors:
            log.warning(
                "%s: skipped %d bad sample(s); first: %s",
                self.source,
                len(self.errors),
                " | ".join(self.errors[:SHOWN]),
            )
