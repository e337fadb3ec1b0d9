"""`SpoolFlusher`: the background thread that moves memories from the spool into Arc, and confirms them there.

Each round it (1) sends pending memories in batches (a full batch at once, a partial one after
`flush_interval`), and (2) asks Arc which sent batches it can show, so the spool can let go of them. What
happens on each kind of failure is in `client.py`; in short, nothing is ever dropped:

- not delivered (Arc down, 503): the batch goes back to pending; retry with exponential backoff;
- maybe delivered (timeout): the batch stays "sent"; if Arc still cannot show it after `visibility_timeout`
  the rows are sent again (Arc's buffer is not durable without its WAL, so a 204 alone proves nothing);
- refused (400, 413, a 500 naming a type-conversion error): the batch is halved until the refused memory is
  alone; after three refusals it is kept in the spool as "rejected" (still readable, retried when the store
  is next opened) and reported, and the rest flows on. Other 500s are server faults: retried as they are.
"""

from __future__ import annotations

import logging
import queue
import random
import secrets
import threading
import time
from dataclasses import dataclass

from ...timeparse import now_us
from . import queries
from .client import ArcAmbiguous, ArcAuthError, ArcClient, ArcError, ArcRejected, ArcUnavailable
from .config import ArcConfig
from .spool import ArcSpool, SentBatch
from .wire import SpoolRow, encode_write, maybe_gzip

log = logging.getLogger("memtrace.arc")

CONFIRM_CHUNK = 100
"""Batches confirmed per query (keeps the SQL far below Arc's 10,000 characters)."""
MAINTENANCE_INTERVAL = 60.0
REJECT_AFTER = 3


def new_batch_id() -> str:
    """Unique across processes and restarts: milliseconds plus 48 random bits."""
    return f"b{int(time.time() * 1000):x}{secrets.token_hex(6)}"


@dataclass
class _Outgoing:
    """A claimed, encoded batch on its way to the sender."""

    batch: str
    rows: list[SpoolRow]
    body: bytes | None
    error: BaseException | None
    epoch: int
    limit: int


@dataclass
class FlusherStats:
    batches_sent: int = 0
    rows_sent: int = 0
    batches_confirmed: int = 0
    rows_confirmed: int = 0
    rows_resent: int = 0
    rows_rejected: int = 0
    failures: int = 0


class SpoolFlusher:
    """Owns the spool's way out. `notify()` after appends; `stop()` to finish."""

    def __init__(self, spool: ArcSpool, client: ArcClient, config: ArcConfig, lock: threading.RLock) -> None:
        self.spool = spool
        self.client = client
        self.config = config
        self.lock = lock
        """Held while rows move between states, so a delete sees a still picture."""
        self.stats = FlusherStats()
        self.last_error: str | None = None
        self._cond = threading.Condition()
        self._appended = 0
        self._stopping = False
        self._limit = config.batch_size
        self._failures = 0
        self._backoff_until = 0.0
        self._last_send = 0.0
        self._last_confirm = 0.0
        self._last_maintenance = time.monotonic()
        self._refusals: dict[str, int] = {}
        self._dedup_horizon_us: int | None = None
        self.send_lock = threading.Lock()
        """Held while a batch is on the wire. A delete takes it (after `lock`) so no write can land in Arc
        behind its back; the sender never holds it while waiting for `lock`."""
        self.delete_epoch = 0
        """Bumped by every delete: a batch claimed before a delete is not sent as it was."""
        self._outbox: queue.Queue[_Outgoing | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name="memtrace-arc-flusher", daemon=True)
        self._sender = threading.Thread(target=self._send_loop, name="memtrace-arc-sender", daemon=True)

    # -------------------------------------------------------------- control

    def start(self) -> None:
        # A new process may face a fixed Arc or a fixed configuration: give refused memories another chance.
        if self.spool.retry_rejected():
            log.info("retrying memories Arc refused before")
        self._sender.start()
        self._thread.start()

    def notify(self, appended: int) -> None:
        with self._cond:
            self._appended += appended
            if self._appended >= self._limit:
                self._cond.notify()

    def note_dedup_horizon(self, since_us: int | None) -> None:
        """The oldest dedup key any writer still asks about (older keys can be pruned)."""
        if since_us is not None:
            self._dedup_horizon_us = since_us

    def stop(self, timeout: float) -> None:
        """Send what is pending for up to `timeout` seconds, then stop. Unsent memories stay in the spool."""
        with self._cond:
            self._stopping = True
            self._drain_deadline = time.monotonic() + timeout
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout + 2 * self.config.timeout + 5)

    @property
    def healthy(self) -> bool:
        return self._failures == 0

    def retry_after(self) -> float:
        """Seconds a writer refused for backpressure should wait."""
        return max(1.0, round(self._backoff_until - time.monotonic(), 1))

    # ----------------------------------------------------------------- loop

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopping:
                    self._cond.wait(self._wait_time())
                stopping = self._stopping
            try:
                if stopping:
                    self._drain()
                    return
                if time.monotonic() >= self._backoff_until:
                    self._send_due()
                    self._confirm_due()
                self._maintain()
            except Exception as exc:  # never let the thread die: the spool keeps everything
                log.exception("Arc flusher round failed")
                self._failed(exc)

    def _wait_time(self) -> float:
        now = time.monotonic()
        if now < self._backoff_until:
            return self._backoff_until - now
        if self._appended >= self._limit:
            return 0.0
        until_flush = self._last_send + self.config.flush_interval - now
        until_confirm = self._last_confirm + self.config.confirm_interval - now
        return max(0.005, min(until_flush, until_confirm, self.config.flush_interval))

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        self.stats.failures += 1
        self.last_error = str(exc)
        delay = min(self.config.retry_max, self.config.retry_initial * 2 ** (self._failures - 1))
        self._backoff_until = time.monotonic() + delay * random.uniform(0.8, 1.2)

    def _succeeded(self) -> None:
        if self._failures:
            log.info("Arc reachable again after %d failed attempts", self._failures)
        self._failures = 0
        self._backoff_until = 0.0

    # ---------------------------------------------------------------- sends

    def _send_due(self) -> None:
        now = time.monotonic()
        with self._cond:
            due = self._appended >= self._limit or now - self._last_send >= self.config.flush_interval
        if not due:
            return
        while self._prepare_one() and time.monotonic() >= self._backoff_until:
            pass

    def _prepare_one(self) -> bool:
        """Claim and encode one batch and hand it to the sender (which may still be sending the previous one:
        encoding the next while one is on the wire is what keeps Arc busy). True when the batch was full."""
        with self.lock:
            with self._cond:
                self._appended = 0
            self._last_send = time.monotonic()
            batch = new_batch_id()
            limit = self._limit
            epoch = self.delete_epoch
            rows = self.spool.claim(limit, batch, now_us())
        if not rows:
            return False
        body: bytes | None = None
        error: BaseException | None = None
        try:
            body = maybe_gzip(encode_write(self.config.measurement, rows, batch), self.config.gzip_min_bytes)
        except (ValueError, TypeError, OverflowError) as exc:  # could not even encode the batch
            error = exc
        self._outbox.put(_Outgoing(batch, rows, body, error, epoch, limit))
        return len(rows) == limit

    def _send_loop(self) -> None:
        while True:
            item = self._outbox.get()
            try:
                if item is None:
                    return
                self._deliver(item)
            except Exception as exc:  # never let the thread die: the spool keeps everything
                log.exception("Arc send failed unexpectedly")
                if item is not None:
                    with self.lock:
                        self.spool.unclaim(item.batch)
                        self._failed(exc)
            finally:
                self._outbox.task_done()

    def _deliver(self, item: _Outgoing) -> None:
        """POST one prepared batch (holding `send_lock`, so a delete never overlaps a write on the wire), then
        settle its rows in the spool."""
        outcome, error = "sent", item.error
        with self.send_lock:
            if item.epoch != self.delete_epoch:
                outcome = "stale"  # a delete ran since it was claimed: send what is left of it afresh
            elif time.monotonic() < self._backoff_until:
                outcome = "later"  # the batch before it just failed
            elif item.error is not None:
                outcome = "refused"
            else:
                assert item.body is not None
                try:
                    self.client.write(item.body)
                except (ArcUnavailable, ArcAuthError) as exc:
                    outcome, error = "undelivered", exc
                except ArcAmbiguous as exc:
                    outcome, error = "ambiguous", exc
                except ArcRejected as exc:
                    # A 500 that is not Arc's type-conversion error is a server fault: retry the batch as is.
                    server_fault = exc.status == 500 and "convert" not in exc.message.lower()
                    outcome, error = ("undelivered" if server_fault else "refused"), exc
        rows = len(item.rows)
        with self.lock:
            if outcome in ("stale", "later"):
                self.spool.unclaim(item.batch)
            elif outcome == "undelivered":
                self.spool.unclaim(item.batch)
                log.warning("Arc write not delivered (%d memories kept in the spool): %s", rows, error)
                self._failed(error)  # type: ignore[arg-type]
            elif outcome == "ambiguous":
                # Maybe stored: leave the batch "sent"; confirmation decides after visibility_timeout.
                log.warning("Arc write unanswered (%d memories, batch %s): %s", rows, item.batch, error)
                self._failed(error)  # type: ignore[arg-type]
            elif outcome == "refused":
                self._refused(item.batch, item.rows, error)  # type: ignore[arg-type]
            else:
                self.stats.batches_sent += 1
                self.stats.rows_sent += rows
                self._limit = min(self.config.batch_size, item.limit * 2)
                self._succeeded()

    def _refused(self, batch: str, rows: list[tuple[object, ...]], exc: BaseException) -> None:
        status = getattr(exc, "status", None)
        if len(rows) > 1:
            # Halve until the memory Arc refuses is alone; the others go through meanwhile.
            self.spool.unclaim(batch)
            self._limit = max(1, len(rows) // 2)
            log.warning("Arc refused a batch of %d (%s); retrying in halves", len(rows), exc)
            return
        memory_id = str(rows[0][1])
        refusals = self._refusals.get(memory_id, 0) + 1
        if refusals >= REJECT_AFTER or (status is None and not isinstance(exc, ArcError)):
            self._refusals.pop(memory_id, None)
            self.spool.reject(batch, str(exc))
            self.stats.rows_rejected += 1
            self._limit = self.config.batch_size
            log.error("Arc refuses memory %s; kept in the spool as rejected: %s", memory_id, exc)
            return
        self._refusals[memory_id] = refusals
        self.spool.unclaim(batch)
        self._failed(exc)

    # ------------------------------------------------------------- confirms

    def _confirm_due(self) -> None:
        if time.monotonic() - self._last_confirm < self.config.confirm_interval:
            return
        self._last_confirm = time.monotonic()
        self.confirm_now()

    def confirm_now(self) -> None:
        """Ask Arc which sent batches it shows; release those, resend what is overdue."""
        sent = self.spool.sent_batches()
        for start in range(0, len(sent), CONFIRM_CHUNK):
            chunk = sent[start : start + CONFIRM_CHUNK]
            try:
                self._confirm_chunk(chunk)
            except (ArcUnavailable, ArcAmbiguous, ArcAuthError) as exc:
                self._failed(exc)
                return

    def _confirm_chunk(self, chunk: list[SentBatch]) -> None:
        result = self.client.query(
            queries.batch_counts(
                self.config.measurement, [b.batch for b in chunk], min(b.min_time_us for b in chunk)
            )
        )
        visible = {}
        if result.columns:
            b_at, n_at = result.columns.index("write_batch"), result.columns.index("n")
            visible = {row[b_at]: int(row[n_at]) for row in result.data}
        overdue_us = now_us() - int(self.config.visibility_timeout * 1_000_000)
        shown_in_full = [b for b in chunk if visible.get(b.batch, 0) >= b.rows]
        for b in shown_in_full:
            if visible[b.batch] > b.rows:
                log.warning("Arc shows batch %s %d times over", b.batch, visible[b.batch] - b.rows)
        with self.lock:
            if shown_in_full:
                self.stats.rows_confirmed += self.spool.confirm([b.batch for b in shown_in_full])
                self.stats.batches_confirmed += len(shown_in_full)
            for b in chunk:
                shown = visible.get(b.batch, 0)
                if shown < b.rows and b.sent_us <= overdue_us:
                    ids: set[str] = set()
                    if shown:
                        ids_result = self.client.query(
                            queries.batch_ids(self.config.measurement, b.batch, b.min_time_us)
                        )
                        if ids_result.columns:
                            id_at = ids_result.columns.index("id")
                            ids = {row[id_at] for row in ids_result.data}
                    again = self.spool.requeue(b.batch, ids)
                    self.stats.rows_resent += again
                    log.warning(
                        "Arc does not show %d of %d memories of batch %s after %.0fs; sending them again",
                        again,
                        b.rows,
                        b.batch,
                        self.config.visibility_timeout,
                    )
                    with self._cond:
                        self._appended += again
        self._succeeded()

    # ---------------------------------------------------------- maintenance

    def _maintain(self) -> None:
        if time.monotonic() - self._last_maintenance < MAINTENANCE_INTERVAL:
            return
        self._last_maintenance = time.monotonic()
        if self._dedup_horizon_us is not None:
            self.spool.prune_dedup(self._dedup_horizon_us)

    def _drain(self) -> None:
        """On stop: keep sending while Arc takes batches and time is left, then stop the sender."""
        deadline = getattr(self, "_drain_deadline", time.monotonic())
        while time.monotonic() < deadline and self.spool.has_pending():
            if time.monotonic() < self._backoff_until or self._failures:
                break
            self._prepare_one()
            self._outbox.join()  # one at a time now, so a failure stops the drain at once
        self._outbox.put(None)
        self._sender.join(max(1.0, deadline - time.monotonic()) + self.config.timeout)


__all__ = ["FlusherStats", "SpoolFlusher", "new_batch_id"]
