"""A forget on SQLite ends with its write-ahead log copied into the database file (a checkpoint), so the file
itself no longer holds what was forgotten; readers holding an older snapshot never make it wait."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

from memtrace import AddMemoryRequest, Memtrace
from memtrace.forget import delete_in_batches
from memtrace.records import MemoryFilter
from memtrace.stores import open_stores
from memtrace.stores.sqlite import SQLiteEventStore

ORG = "org_default"


def _store_with(tmp_path: Path, n: int) -> Path:
    data = tmp_path / "data"
    with Memtrace.open(data, sweep_every=None) as mt:
        mt.add_memories([AddMemoryRequest(agent_id="subject", content=f"secret {i}") for i in range(n)])
        mt.add_memory(AddMemoryRequest(agent_id="other", content="kept"))
    return data


def _rows_in_file_alone(data: Path, tmp_path: Path) -> dict[str, int]:
    """Memories per agent in the database file read without its log (what a copy of the file alone holds)."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(data / "memtrace.db", alone)
    conn = sqlite3.connect(alone)
    try:
        return dict(conn.execute("SELECT agent_id, COUNT(*) FROM memories GROUP BY agent_id").fetchall())
    finally:
        conn.close()


def test_after_a_forget_the_database_file_itself_no_longer_holds_the_subject(tmp_path: Path) -> None:
    data = _store_with(tmp_path, 600)
    with Memtrace.open(data, sweep_every=None) as mt:
        assert _rows_in_file_alone(data, tmp_path) == {"subject": 600, "other": 1}
        assert mt.forget(agent_id="subject").removed["memories"] == 600
        # Before: the deletes sat in the log until ~1,000 pages had been written, by whoever came next.
        assert _rows_in_file_alone(data, tmp_path) == {"other": 1}


def test_a_reader_holding_an_old_snapshot_does_not_hold_up_the_forget(tmp_path: Path) -> None:
    data = _store_with(tmp_path, 300)
    bundle = open_stores(data)
    events = bundle.events
    assert isinstance(events, SQLiteEventStore)
    reader = sqlite3.connect(data / "memtrace.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM memories").fetchone()[0] == 301  # its snapshot, held open
    done = threading.Event()

    def forget() -> None:
        delete_in_batches(events, ORG, MemoryFilter(agent_id="subject"))
        done.set()

    worker = threading.Thread(target=forget)
    worker.start()
    try:
        # The checkpoint copies what it can and returns; it never waits for the reader.
        assert done.wait(30)
        assert reader.execute("SELECT COUNT(*) FROM memories").fetchone()[0] == 301
    finally:
        reader.execute("COMMIT")
        reader.close()
        worker.join()
    bundle.close()
    with Memtrace.open(data, sweep_every=None) as mt:
        assert mt.list_memories().count == 1


def _log_file_bytes(data: Path) -> int:
    wal = data / "memtrace.db-wal"
    return wal.stat().st_size if wal.exists() else 0


def test_writes_keep_the_log_short_though_no_commit_checkpoints_it(tmp_path: Path) -> None:
    # Checkpoints run beside the readers' connection, not inside its commits; the log must still start over.
    data = tmp_path / "data"
    largest = 0
    with Memtrace.open(data, sweep_every=None) as mt:
        for b in range(30):
            mt.add_memories(
                [AddMemoryRequest(agent_id="a", content=f"{b} {i} " + "word " * 400) for i in range(500)]
            )
            largest = max(largest, _log_file_bytes(data))
    # 30 batches of ~1 MB each: never checkpointed, the log would pass 30 MB.
    assert largest < 12 * 2**20


def test_a_forget_leaves_the_log_file_empty_when_nobody_reads_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Memtrace.open(data, sweep_every=None) as mt:
        mt.add_memories(
            [AddMemoryRequest(agent_id="s", content=f"{i} " + "word " * 400) for i in range(3000)]
        )
        mt.add_memory(AddMemoryRequest(agent_id="other", content="kept"))
    with Memtrace.open(data, sweep_every=None) as mt:
        assert mt.forget(agent_id="s").removed["memories"] == 3000
        # Its batches wrote several MB of log (pages that held the subject among them); the file is cut to
        # nothing, and the few pages written since (the receipt's audit entry) are all it holds.
        assert _log_file_bytes(data) < 64 * 1024
        assert mt.list_memories().count == 1
