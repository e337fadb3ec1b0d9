"""A one-line progress bar on stderr for long commands (export, import), drawn only on a terminal.

Hand-written (thirty lines) because none of the server's dependencies has one. Redrawn at most every
`INTERVAL` seconds, so a fast loop does not spend its time drawing; when stderr is not a terminal (a pipe, a
log file, CI) it draws nothing at all.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

INTERVAL = 0.1
WIDTH = 30


class ProgressBar:
    """``label [#######.......]  45%  12,000 memories`` with a total, ``label  12,000 memories`` without."""

    def __init__(self, label: str, *, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, note: str = "", *, force: bool = False) -> None:
        """Show `done` out of the total (in the total's unit), with `note` after it."""
        if not self.enabled:
            return
        now = time.monotonic()
        finished = self.total is not None and done >= self.total
        if not (force or finished) and now - self._last < INTERVAL:
            return
        self._last = now
        if self.total:
            share = min(1.0, done / self.total)
            filled = int(share * WIDTH)
            bar = f" [{'#' * filled}{'.' * (WIDTH - filled)}] {share * 100:3.0f}%"
        else:
            bar = ""
        self.stream.write(f"\r{self.label}{bar}  {note}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (so what is printed next starts on its own line)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


__all__ = ["ProgressBar"]
