"""Benchmark: sweeping expired memories while single writes go on (issue #16: "sweeping 100,000 expired memories
does not raise the p99 of concurrent single writes above 50 ms").

An embedded store holds `kept` memories that never expire and `expired` ones written with a ttl; the sweep runs
as of a time after they expired (`Engine.sweep(now=...)`, the same call the server's leader makes). A writer
thread adds one memory at a time, paced, timing each `add_memory`:

1. for `phase_s` seconds with nothing else running (the peer: the same writer, same store, same run);
2. while the sweep deletes every expired memory, in its default batches.

Rows: the p99 (and median) of single writes during the sweep against without it, and the sweep's rate. The sweep
must delete exactly the expired memories and nothing else (checked), or the benchmark fails.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .common import Row, check, latency_row, log, median, percentile, rate_row, temp_dir

WRITES_PER_S = 200
"""The writer's pace: an agent fleet's steady trickle, not a saturating load (that is benchmark 1)."""
TARGET_P99_MS = 50.0
LOAD_BATCH = 1000


class PacedWriter:
    """Adds one memory every 1/`WRITES_PER_S` s on its own thread and records each call's ms."""

    def __init__(self, engine: object, org_id: str, name: str) -> None:
        self.engine = engine
        self.org_id = org_id
        self.name = name
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-writer", daemon=True)
        self._n = 0

    def __enter__(self) -> PacedWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        from memtrace import AddMemoryRequest

        interval = 1 / WRITES_PER_S
        next_at = time.perf_counter()
        while not self._stop.is_set():
            self._n += 1
            request = AddMemoryRequest(agent_id="writer", content=f"single write {self.name} #{self._n}")
            t0 = time.perf_counter()
            self.engine.add_memory(self.org_id, request)  # type: ignore[attr-defined]
            self.samples.append((time.perf_counter() - t0) * 1000)
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.perf_counter()))


def _load(engine: object, org_id: str, count: int, ttl: str | None, label: str) -> None:
    from memtrace import AddMemoryRequest

    for start in range(0, count, LOAD_BATCH):
        batch = [
            AddMemoryRequest(
                agent_id=f"agent_{i % 50}",
                content=f"{label} memory number {i}: the build failed on step {i % 97} and was retried",
                ttl=ttl,
                dedup_key=f"{label}-{i}",
            )
            for i in range(start, min(count, start + LOAD_BATCH))
        ]
        engine.add_memories(org_id, batch)  # type: ignore[attr-defined]


def measure(root: Path, *, expired: int, kept: int, phase_s: float) -> list[Row]:
    from memtrace.client import DEFAULT_ORG_ID, open_engine
    from memtrace.sweep import DEFAULT_SWEEP_BATCH
    from memtrace.timeparse import now_us

    engine = open_engine(root / "data")
    org = DEFAULT_ORG_ID
    log(f"sweep: loading {kept:,} kept and {expired:,} expiring memories")
    _load(engine, org, kept, None, "kept")
    _load(engine, org, expired, "1h", "expiring")
    after_expiry = now_us() + 2 * 3_600_000_000

    log(f"sweep: {phase_s:.0f} s of single writes without the sweep")
    with PacedWriter(engine, org, "alone") as alone:
        time.sleep(phase_s)
    log("sweep: single writes while the sweep runs")
    with PacedWriter(engine, org, "during") as during:
        time.sleep(1.0)  # the writer is in its stride before the sweep starts
        t0 = time.perf_counter()
        report = engine.sweep(now=after_expiry)
        sweep_s = time.perf_counter() - t0
        time.sleep(0.5)
    check(report.complete and report.total == expired, f"the sweep deleted {report.total}, not {expired}")
    left_expired = engine.sweep(now=after_expiry, dry_run=True).total
    engine.wall_clock = lambda: after_expiry - 4 * 3_600_000_000  # before any expiry: every row still stored
    left = sum(engine.count_memories_by_type(org).values())
    written = len(alone.samples) + len(during.samples)
    check(left_expired == 0, f"{left_expired} expired memories survived the sweep")
    check(
        left == kept + written,
        f"the sweep took more than the expired: {left} left, {kept + written} expected",
    )
    engine.close()

    p99_alone, p99_during = percentile(alone.samples, 99), percentile(during.samples, 99)
    log(
        f"sweep: {expired:,} in {sweep_s:.1f} s ({report.batches} batches); single-write p99 "
        f"{p99_alone:.1f} ms alone, {p99_during:.1f} ms during the sweep"
    )
    row = latency_row(
        "16. sweeping expired memories",
        f"single add_memory during a sweep of {expired:,} expired (of {expired + kept:,}), ms",
        during.samples,
        "the same writer, same store, no sweep (same run)",
        alone.samples,
        target_ms=None,
        target=f"p99 <= {TARGET_P99_MS:g} ms",
        notes=(
            f"{WRITES_PER_S} writes/s paced; p99 ratio during/alone {p99_during / p99_alone:.2f}x, median ratio "
            f"{median(during.samples) / median(alone.samples):.2f}x; embedded SQLite, FULL sync"
        ),
    )
    row.met = p99_during <= TARGET_P99_MS
    sweep_row = rate_row(
        "16. sweeping expired memories",
        f"memories/s deleted by Engine.sweep (batches of {DEFAULT_SWEEP_BATCH}, each its own transaction)",
        [expired / sweep_s],
        "-",
        None,
        target="report only",
        met=True,
        notes=f"{report.batches} batches in {sweep_s:.1f} s, while the writer ran",
    )
    return [row, sweep_row]


def run(quick: bool) -> list[Row]:
    with temp_dir("sweep") as root:
        if quick:
            return measure(root, expired=100_000, kept=100_000, phase_s=10.0)
        return measure(root, expired=100_000, kept=900_000, phase_s=30.0)
