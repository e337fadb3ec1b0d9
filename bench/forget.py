"""Forgetting an agent: 10,000 of 100,000 memories (quick) or 100,000 of 1,000,000 (--full), on SQLite.

The issue's bar: the forget takes at most 5 s for 100,000 memories in a 1,000,000-memory store, and never holds
concurrent reads up for more than 100 ms. The store is loaded once (the benchmark dataset, every tenth memory
re-assigned to the subject agent) and copied for every measurement, since a forget consumes its store. Each
round, on fresh copies, in alternating order:

- ours: `Engine.forget` (bounded batches, each its own transaction, `memtrace.forget`);
- peer: the same memories deleted in one transaction by the same engine (`delete_memories(agent_id=...)`,
  keyword index upkeep included): what one big statement costs, in time and in reader stalls;
- ceiling: a plain ``DELETE FROM memories WHERE org_id = ? AND agent_id = ?`` on its own sqlite3 connection
  (no keyword index upkeep, so it is not a correct forget: the floor of the work).

Each side runs twice per round: alone (the time row), then on another fresh copy with a reader thread in the same
process (as a server's worker threads are) taking turns listing another agent's latest memories and running a
ranked search, a read every `READ_PAUSE_S`, keeping every read's latency (the stall row: the worst read beside
the worst of the same reads with nothing else going on). The reader is kept out of the time row because it
shares the store's lock fairly: a forget that lets readers in takes as much longer as they read. Rows report;
they never fail on a fast machine.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .bulk_load import bench_workdir
from .common import Row, check, log, median, percentile
from .dataset import Dataset

ORG = "org_default"
SUBJECT = "subject_agent"
EVERY = 10
"""Every EVERY-th memory belongs to the subject."""
TARGET_S_PER_100K = 5.0
TARGET_STALL_MS = 100.0
IDLE_READ_S = 1.0
READ_PAUSE_S = 0.02


def _build(root: Path, size: int) -> tuple[Path, str]:
    """A closed store of `size` memories, every EVERY-th of them the subject's; returns it and another agent."""
    from memtrace import Memtrace, SearchQuery

    store = root / "origin"
    if (store / "loaded").exists():
        return store, (store / "loaded").read_text()
    shutil.rmtree(store, ignore_errors=True)
    log(f"loading {size:,} memories ({size // EVERY:,} of them the subject's)")
    started = time.perf_counter()
    other = ""
    with Memtrace.open(store) as mt:
        for batch in Dataset(size).batches(1000):
            requests = []
            for i, spec in enumerate(batch):
                req = spec.to_request()
                if i % EVERY == 0:
                    req = req.model_copy(update={"agent_id": SUBJECT})
                else:
                    other = other or req.agent_id
                requests.append(req)
            mt.add_memories(requests)
        mt.search_memories(SearchQuery(query="deploy error", limit=1))  # index what the writes deferred
    log(f"loaded in {time.perf_counter() - started:.1f} s")
    (store / "loaded").write_text(other)
    return store, other


def _copy(origin: Path, name: str) -> Path:
    target = origin.parent / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(origin, target)
    return target


class Reader:
    """A thread reading as a server's worker does, recording each read's latency in ms."""

    def __init__(self, engine: object, other: str) -> None:
        self.engine = engine
        self.other = other
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from memtrace import ListOptions, SearchQuery

        engine = self.engine
        i = 0
        while not self._stop.is_set():
            t0 = time.perf_counter()
            if i % 2:
                engine.list_memories(ORG, ListOptions(agent_id=self.other, limit=20))  # type: ignore[attr-defined]
            else:
                engine.search_memories(ORG, SearchQuery(query="deploy error", limit=10))  # type: ignore[attr-defined]
            self.latencies.append((time.perf_counter() - t0) * 1000)
            i += 1
            self._stop.wait(READ_PAUSE_S)

    def __enter__(self) -> Reader:
        self._thread.start()
        time.sleep(0.05)  # reading before the delete starts
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _timed_delete(store: Path, delete: Callable[[object], int], expected: int) -> float:
    """Open `store` and time `delete(engine)` alone; check it removed the subject."""
    from memtrace.engine import Engine
    from memtrace.stores import open_stores

    engine = Engine.from_stores(open_stores(store))
    try:
        t0 = time.perf_counter()
        deleted = delete(engine)
        seconds = time.perf_counter() - t0
        _check_gone(engine, deleted, expected)
        return seconds
    finally:
        engine.close()


def _read_during_delete(
    store: Path, other: str, delete: Callable[[object], int], expected: int
) -> tuple[list[float], list[float]]:
    """Open `store`, read alone for a moment, then run `delete(engine)` with the reader going; (read latencies
    in ms during the delete, the same reads alone)."""
    from memtrace.engine import Engine
    from memtrace.stores import open_stores

    engine = Engine.from_stores(open_stores(store))
    try:
        with Reader(engine, other) as idle:
            time.sleep(IDLE_READ_S)  # the same reads with nothing else going on: the baseline
        with Reader(engine, other) as reader:
            deleted = delete(engine)
        _check_gone(engine, deleted, expected)
        return reader.latencies, idle.latencies
    finally:
        engine.close()


def _check_gone(engine: object, deleted: int, expected: int) -> None:
    from memtrace import ListOptions

    check(deleted == expected, f"deleted {deleted}, expected {expected}")
    left = engine.list_memories(ORG, ListOptions(agent_id=SUBJECT, since="3650d", limit=1))  # type: ignore[attr-defined]
    check(left.count == 0, "the subject still has memories")


def _forget(engine: object) -> int:
    from memtrace import ForgetRequest

    receipt = engine.forget(ORG, ForgetRequest(agent_id=SUBJECT))  # type: ignore[attr-defined]
    return int(receipt.removed["memories"])


def _one_transaction(engine: object) -> int:
    return int(engine.delete_memories(ORG, agent_id=SUBJECT))  # type: ignore[attr-defined]


def _plain_delete(store: Path) -> float:
    conn = sqlite3.connect(store / "memtrace.db", isolation_level=None)
    try:
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM memories WHERE org_id = ? AND agent_id = ?", (ORG, SUBJECT))
        conn.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        conn.close()


def run(quick: bool) -> list[Row]:
    size = 100_000 if quick else 1_000_000
    rounds = 3 if quick else 1
    subject = size // EVERY
    root = bench_workdir() / f"forget-{size}"
    root.mkdir(parents=True, exist_ok=True)
    origin, other = _build(root, size)
    ours_s: list[float] = []
    peer_s: list[float] = []
    plain_s: list[float] = []
    ours_reads: list[float] = []
    peer_reads: list[float] = []
    ours_worst: list[float] = []
    peer_worst: list[float] = []
    idle_reads: list[float] = []
    for r in range(rounds):
        order = ("ours", "peer") if r % 2 == 0 else ("peer", "ours")
        for side in order:
            delete = _forget if side == "ours" else _one_transaction
            store = _copy(origin, side)
            seconds = _timed_delete(store, delete, subject)
            store = _copy(origin, side)
            reads, idle = _read_during_delete(store, other, delete, subject)
            shutil.rmtree(store, ignore_errors=True)
            (ours_s if side == "ours" else peer_s).append(seconds)
            (ours_reads if side == "ours" else peer_reads).extend(reads)
            (ours_worst if side == "ours" else peer_worst).append(max(reads))
            idle_reads += idle
            log(
                f"round {r + 1} {side}: {seconds:.2f} s alone; with a reader: {len(reads)} reads, worst {max(reads):.0f} ms"
            )
        plain = _copy(origin, "plain")
        plain_s.append(_plain_delete(plain))
        shutil.rmtree(plain, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)

    target_s = TARGET_S_PER_100K * subject / 100_000
    label = f"16. forget an agent ({subject:,} of {size:,} memories, SQLite)"
    worst = max(ours_worst)
    return [
        Row(
            benchmark=label,
            metric="seconds to forget the agent",
            ours=median(ours_s),
            peer_name="one-transaction delete_memories (same engine, same work)",
            peer=median(peer_s),
            target=f"<= {target_s:g} s ({TARGET_S_PER_100K:g} s per 100,000)",
            met=median(ours_s) <= target_s,
            notes=f"plain DELETE without keyword-index upkeep (not a correct forget): {median(plain_s):.2f} s",
            extra={"plain_delete_s": median(plain_s)},
            samples=len(ours_s),
        ),
        Row(
            benchmark=label,
            metric="worst read latency while forgetting, ms",
            ours=worst,
            peer_name="worst read during the one-transaction delete",
            peer=max(peer_worst),
            target=f"<= {TARGET_STALL_MS:g} ms",
            met=worst <= TARGET_STALL_MS,
            ours_p99=percentile(ours_reads, 99),
            peer_p99=percentile(peer_reads, 99),
            notes=f"reads during: ours {len(ours_reads):,} (median {median(ours_reads):.1f} ms), "
            f"peer {len(peer_reads):,} (median {median(peer_reads):.1f} ms); the same reads alone: median "
            f"{median(idle_reads):.1f} ms, worst {max(idle_reads):.0f} ms",
            extra={"idle_read_worst_ms": max(idle_reads), "idle_read_median_ms": median(idle_reads)},
            samples=len(ours_reads),
        ),
    ]
