"""`PeriodicSweeper`: the sweep (`memtrace.sweep`) on a timer, for memtrace used as a library.

A server sweeps on its leader (memtrace_server/retention.py). An embedded client (``Memtrace.open(...)``) has no
server, so it runs its own sweeper: a daemon thread that sweeps the client's organisation `first_delay` seconds
after opening, then every `interval` seconds, until the client is closed. The bound this gives: a memory that
expires (or falls out of a retention policy) is deleted within `interval` plus one sweep's duration, as long as
some process has the store open; a store nobody opens is swept by the first process that keeps it open past
`first_delay` (or by ``memtrace retention run``).

The first pass waits rather than running at once, so a short script that opens, writes and closes pays nothing
for it. Several processes on one directory each sweep; a sweep deletes by id, so they do not get in each
other's way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .engine import Engine
from .errors import MemtraceError
from .sweep import DEFAULT_SWEEP_BATCH, SweepReport

DEFAULT_SWEEP_INTERVAL_SECONDS = 300.0
"""How often an embedded client sweeps: expired memories are physically gone within about five minutes."""
FIRST_SWEEP_DELAY_SECONDS = 60.0

log = logging.getLogger("memtrace.sweep")


class PeriodicSweeper:
    """Sweeps `org_id` on `engine` every `interval` seconds on a daemon thread (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        org_id: str,
        *,
        interval: float = DEFAULT_SWEEP_INTERVAL_SECONDS,
        first_delay: float | None = None,
        batch: int = DEFAULT_SWEEP_BATCH,
        on_report: Callable[[SweepReport], None] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.engine = engine
        self.org_id = org_id
        self.interval = interval
        self.first_delay = min(interval, FIRST_SWEEP_DELAY_SECONDS) if first_delay is None else first_delay
        self.batch = batch
        self.on_report = on_report
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PeriodicSweeper:
        self._thread = threading.Thread(target=self._loop, name="memtrace-sweeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the batch in progress (a sweep checks between batches) and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        wait = self.first_delay
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                report = self.engine.sweep(
                    org_id=self.org_id, batch=self.batch, should_stop=self._stop.is_set
                )
            except MemtraceError as exc:  # the store is away or refuses: try again next time
                log.warning("sweep of %s failed: %s", self.org_id, exc.message)
                continue
            self.passes += 1
            if report.total or report.errors:
                log.info("sweep of %s: %s", self.org_id, "; ".join(report.lines()))
            if self.on_report is not None:
                self.on_report(report)


__all__ = ["DEFAULT_SWEEP_INTERVAL_SECONDS", "FIRST_SWEEP_DELAY_SECONDS", "PeriodicSweeper"]
