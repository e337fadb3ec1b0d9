"""Leader election: background work runs on one replica at a time.

Several ``memtrace serve`` processes on one PostgreSQL database are one service; a periodic job (a retention
sweeper, a statistics refresh) must run once, not once per replica. Each replica runs a `Leadership` thread that
tries to take the PostgreSQL session advisory lock ``memtrace.leader.background`` (the key scheme of
`memtrace.stores.postgres.database.lock_key`, shared with `PostgresDatabase.leader_lock`) on a dedicated
connection. The one that holds it is the leader and runs the registered jobs; the others retry every
`retry_seconds`. The lock belongs to the session, so when the leader dies (or its connection is cut) PostgreSQL
releases it and another replica takes over at its next retry: leadership moves within ``retry_seconds`` plus the
time the database needs to notice the dead session (immediately for a closed socket; TCP keepalives, about a
minute, for a vanished host). The leader checks its connection before every round of jobs, so a leader that lost
its session stops running jobs before a new one can start them.

With the embedded SQLite store there is one server per data directory: it is always the leader.

Jobs register with `add_job(name, interval, fn)` before the server starts; ``memtrace_leader`` (1 or 0) in
/metrics says which replica leads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("memtrace_server.leadership")

LEADER_LOCK_NAME = "background"
DEFAULT_RETRY_SECONDS = 2.0


@dataclass
class Job:
    name: str
    interval: float
    run: Callable[[], Any]
    next_due: float = 0.0
    runs: int = 0


@dataclass
class Leadership:
    """Runs `jobs` while this process holds the leader lock of the database at `postgres_url` (always, when
    `postgres_url` is None: a store only one process uses)."""

    postgres_url: str | None
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    jobs: list[Job] = field(default_factory=list)
    is_leader: bool = False
    terms: int = 0
    """How many times this process became leader."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def add_job(self, name: str, interval: float, fn: Callable[[], Any]) -> None:
        """Run `fn` every `interval` seconds on the leader (first run as soon as it leads)."""
        self.jobs.append(Job(name, interval, fn))

    def stopping(self) -> bool:
        """True once the server is shutting down: a long job checks it between steps and returns."""
        return self._stop.is_set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="memtrace-leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.is_leader = False

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.postgres_url is None:
                self._lead(lambda: True)
            else:
                try:
                    self._try_lead_on_postgres(self.postgres_url)
                except Exception as exc:  # the database is away: follow, and retry
                    log.warning("leader election: %s", exc)
            self.is_leader = False
            self._stop.wait(self.retry_seconds)

    def _try_lead_on_postgres(self, url: str) -> None:
        from memtrace.stores.postgres.database import PoolOptions, connect, lock_key

        conn = connect(url, PoolOptions(connect_timeout=5.0))
        try:
            key = lock_key("memtrace.leader." + LEADER_LOCK_NAME)
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (row and row[0]):
                return

            def still_held() -> bool:
                try:
                    conn.execute("SELECT 1")
                    return True
                except Exception:
                    return False

            self._lead(still_held)
        finally:
            conn.close()  # ends the session, so the lock is released for the next leader

    def _lead(self, still_held: Callable[[], bool]) -> None:
        """Run due jobs until stopped or the lock is lost."""
        self.is_leader = True
        self.terms += 1
        log.info("this replica now leads background work")
        for job in self.jobs:
            job.next_due = 0.0
        while not self._stop.is_set():
            if not still_held():
                log.warning("lost the leader lock (database connection gone)")
                return
            now = time.monotonic()
            for job in self.jobs:
                if now >= job.next_due:
                    job.next_due = now + job.interval
                    try:
                        job.run()
                        job.runs += 1
                    except Exception:
                        log.exception("background job %s failed", job.name)
            self._stop.wait(min([self.retry_seconds, *(j.interval for j in self.jobs)]))


class LeaderCollector(Collector):
    """``memtrace_leader``: 1 on the replica that runs background work, 0 on the others."""

    def __init__(self, leadership: Leadership) -> None:
        self._leadership = leadership

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "memtrace_leader",
            "1 if this replica holds the leader lock and runs background jobs, else 0.",
            1 if self._leadership.is_leader else 0,
        )


def postgres_url_of(store_url: str | None) -> str | None:
    """The libpq URL when `store_url` names a PostgreSQL store, else None."""
    if not store_url or "://" not in store_url:
        return None
    scheme = store_url.split("://", 1)[0].lower().split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        return None
    from memtrace.stores.postgres import libpq_url

    return libpq_url(store_url)


__all__ = ["LeaderCollector", "Leadership", "postgres_url_of"]
