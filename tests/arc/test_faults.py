"""Arc misbehaves; every acknowledged memory still arrives exactly once.

"Arrives" is checked in the stand-in's storage with its admin token, after the spool has drained (every memory
confirmed queryable in Arc): the acknowledged ids are all there, and no id is there twice.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from memtrace.engine import Engine, EngineConfig
from memtrace.models import AddMemoryRequest
from memtrace.stores.arc import ArcEventStore
from memtrace.stores.sqlite import SQLiteDatabase, SQLiteMetadataStore

from .helpers import assert_exactly_once, drained, wait_until

WRITE = "/api/v1/write/msgpack"


def engine_on(store: ArcEventStore, directory: Path) -> Engine:
    return Engine(store, SQLiteMetadataStore(SQLiteDatabase(directory / "meta")), EngineConfig())


def write_many(engine: Engine, org: str, n: int, per_call: int = 25, prefix: str = "m") -> set[str]:
    acknowledged: set[str] = set()
    for start in range(0, n, per_call):
        batch = [
            AddMemoryRequest(agent_id="writer", content=f"{prefix} {i}", dedup_key=f"{prefix}-{i}")
            for i in range(start, min(n, start + per_call))
        ]
        acknowledged.update(m.id for m in engine.add_memories(org, batch))
    return acknowledged


def test_500_and_503_answers(standin, make_store, tmp_path) -> None:
    store = make_store(standin, database="f5xx", batch_size=40)
    engine = engine_on(store, tmp_path)
    standin.fault(WRITE, 4, status=503, error="Write rejected (schema churn): retry")
    standin.fault(WRITE, 3, status=500, error="Failed to write records: storage: disk full")
    standin.fault(WRITE, 2, status=502)
    acknowledged = write_many(engine, "org", 600)
    wait_until(lambda: drained(store), what="the spool to drain")
    assert_exactly_once(standin, "f5xx", acknowledged)
    assert store.flusher.stats.failures >= 9
    assert standin.stats()["requests"][WRITE] >= 9 + 600 // 40


@pytest.mark.parametrize("fault", [{"delay_s": 1.5, "after": True}, {"drop_connection": True}])
def test_writes_whose_answer_is_lost_are_not_stored_twice(standin, make_store, tmp_path, fault) -> None:
    """Arc processed the write but the 204 never arrived (timeout, dropped connection). Sending again at once
    would store the rows twice; the store waits until Arc shows them instead."""
    store = make_store(standin, database="fslow", batch_size=50, timeout=0.5)
    engine = engine_on(store, tmp_path)
    standin.fault(WRITE, 3, **fault)
    acknowledged = write_many(engine, "org", 400)
    wait_until(lambda: drained(store), what="the spool to drain")
    assert_exactly_once(standin, "fslow", acknowledged)
    assert store.flusher.stats.rows_resent == 0


def test_rows_arc_acknowledged_but_lost_are_sent_again(standin, make_store, tmp_path) -> None:
    """Arc answered 204, then lost its buffer (no WAL): the rows never become queryable, so they go again."""
    standin.configure(max_buffer_age_ms=60_000)
    store = make_store(standin, database="flost", visibility_timeout=1.0)
    engine = engine_on(store, tmp_path)
    acknowledged = write_many(engine, "org", 200)
    wait_until(lambda: store.spool.status().pending == 0, what="the rows to be sent")
    assert standin.drop_buffers() == 200
    standin.configure(max_buffer_age_ms=50)
    wait_until(lambda: drained(store), what="the spool to drain")
    assert_exactly_once(standin, "flost", acknowledged)
    assert store.flusher.stats.rows_resent == 200


@pytest.mark.slow
def test_arc_down_for_ten_seconds_in_the_middle_of_5000_writes(make_standin, make_store, tmp_path) -> None:
    standin = make_standin(max_buffer_age_ms=200)
    store = make_store(standin, database="fdown", batch_size=200)
    engine = engine_on(store, tmp_path)
    acknowledged: set[str] = set()
    outage: list[threading.Thread] = []
    written_during, written_after = 0, 0

    started = time.monotonic()
    for start in range(0, 5000, 25):
        if start == 1000:
            # A crash, not a clean stop: whatever Arc had buffered (acknowledged with 204) is gone.
            outage.append(standin.down_for(10.0, crash=True))
        batch = [
            AddMemoryRequest(agent_id="writer", content=f"memory {i}", dedup_key=f"k{i}")
            for i in range(start, start + 25)
        ]
        acknowledged.update(m.id for m in engine.add_memories("org", batch))
        if outage:
            if outage[0].is_alive():
                written_during += len(batch)
            else:
                written_after += len(batch)
        time.sleep(0.075)  # a steady writer over ~15 s, so the outage falls in the middle
    assert len(acknowledged) == 5000
    assert written_during >= 2000 and written_after >= 500, (written_during, written_after)
    outage[0].join(timeout=30)
    wait_until(lambda: drained(store), timeout=60, what="the spool to drain after the outage")
    assert_exactly_once(standin, "fdown", acknowledged)
    assert len(standin.rows("SELECT id FROM events ORDER BY time", "fdown")) == 5000
    assert time.monotonic() - started < 120
    assert store.flusher.stats.failures > 0  # it really was down
