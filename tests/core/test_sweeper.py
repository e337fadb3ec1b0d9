"""The embedded client deletes expired memories on its own: `PeriodicSweeper` sweeps its org on a timer, and
`Memtrace.open` runs one until it is closed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from memtrace import AddMemoryRequest, Memtrace
from memtrace.client import DEFAULT_ORG_ID, open_engine
from memtrace.sweep import SweepReport
from memtrace.sweeper import PeriodicSweeper
from memtrace.timeparse import now_us, to_us

HOUR_US = 3_600_000_000


def test_a_periodic_sweeper_deletes_the_orgs_expired_memories_and_only_those(tmp_path: Path) -> None:
    engine = open_engine(tmp_path / "data")
    engine.ensure_org("org_other", "Other")
    mine = engine.add_memory(DEFAULT_ORG_ID, AddMemoryRequest(agent_id="a", content="mine", ttl="1h"))
    engine.add_memory("org_other", AddMemoryRequest(agent_id="a", content="theirs", ttl="1h"))
    engine.wall_clock = lambda: now_us() + 2 * HOUR_US  # an hour after both expired
    reports: list[SweepReport] = []
    sweeper = PeriodicSweeper(
        engine, DEFAULT_ORG_ID, interval=0.05, first_delay=0.0, on_report=reports.append
    ).start()
    try:
        deadline = time.monotonic() + 10
        while not reports and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sweeper.stop()
    assert reports and reports[0].by_org() == {DEFAULT_ORG_ID: {"expired": {"episodic": 1}}}
    assert mine.expires_at is not None
    engine.wall_clock = lambda: to_us(mine.time)  # before anything expired: only the other org's is left
    assert engine.list_memories(DEFAULT_ORG_ID).count == 0
    assert [m.content for m in engine.list_memories("org_other").memories] == ["theirs"]
    engine.close()


def test_an_embedded_client_sweeps_until_it_is_closed(tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "data", sweep_every=0.1) as mt:
        memory = mt.add_memory(AddMemoryRequest(agent_id="a", content="short lived", ttl="1s"))
        assert memory.expires_at is not None
        # Another handle on the store, looking as of before the expiry, sees the row until the sweep deletes it.
        observer = open_engine(tmp_path / "data")
        observer.wall_clock = lambda: to_us(memory.time)
        deadline = time.monotonic() + 15
        while observer.list_memories(DEFAULT_ORG_ID).count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert observer.list_memories(DEFAULT_ORG_ID).count == 0
        observer.close()


def sweeper_threads() -> int:
    return sum(t.name == "memtrace-sweeper" for t in threading.enumerate())


def test_a_client_opened_without_sweeping_runs_no_thread(tmp_path: Path) -> None:
    before = sweeper_threads()
    with Memtrace.open(tmp_path / "data", sweep_every=None) as mt:
        mt.add_memory(AddMemoryRequest(agent_id="a", content="x"))
        assert sweeper_threads() == before
    with Memtrace.open(tmp_path / "data") as mt:
        assert sweeper_threads() == before + 1
    assert sweeper_threads() == before
