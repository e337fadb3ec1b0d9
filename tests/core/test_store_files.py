"""The embedded store's files and faults: private modes, refusing an empty or damaged file, and the time budget of
one query. Real files throughout; damage is done to the bytes on disk."""

from __future__ import annotations

import logging
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from memtrace import (
    AddMemoryRequest,
    ListOptions,
    Memtrace,
    MemtraceError,
    QueryTooExpensiveError,
    SearchQuery,
    StoreCorruptedError,
)
from memtrace.stores.arc import ArcConfig


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_directory_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Memtrace.open(data) as mt:
        mt.add_memory(AddMemoryRequest(agent_id="a", content="private"))
        assert _mode(data) == 0o700
        for name in ("memtrace.db", "memtrace.db-wal", "memtrace.db-shm"):
            assert _mode(data / name) == 0o600, name


def test_the_arc_spool_is_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # No Arc is listening: the spool is made and kept locally all the same.
    config = ArcConfig(url="http://127.0.0.1:9", token="t", database="d", measurement="m")
    with Memtrace.open(data, arc=config) as mt:
        mt.add_memory(AddMemoryRequest(agent_id="a", content="spooled"))
        spool_files = [p for p in data.iterdir() if p.name.startswith("arc-spool.db")]
        assert spool_files
        for path in spool_files:
            assert _mode(path) == 0o600, path.name


def test_looser_modes_left_by_an_older_version_are_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    with Memtrace.open(data) as mt:
        mt.add_memory(AddMemoryRequest(agent_id="a", content="x"))
    data.chmod(0o755)
    (data / "memtrace.db").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="memtrace.store"), Memtrace.open(data) as mt:
        assert mt.list_memories().count == 1
    assert _mode(data) == 0o700 and _mode(data / "memtrace.db") == 0o600
    assert "open to other local users" in caplog.text


def test_a_zero_length_database_is_refused_not_replaced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Memtrace.open(data) as mt:
        mt.add_memory(AddMemoryRequest(agent_id="a", content="x"))
    (data / "memtrace.db").write_bytes(b"")  # an operator's truncated file
    with pytest.raises(StoreCorruptedError) as err:
        Memtrace.open(data)
    assert "empty" in err.value.message and "delete the file" in err.value.message
    assert (data / "memtrace.db").stat().st_size == 0  # left as it was


def test_a_data_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("hello")
    with pytest.raises(MemtraceError) as err:
        Memtrace.open(not_a_dir)
    assert "is a file" in err.value.message


def damage_a_page(db: Path, table: str) -> None:
    """Overwrite the first B-tree page of `table` with garbage (the file's header stays valid)."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xa5" * page_size)


def test_a_damaged_store_is_refused_at_open_with_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Memtrace.open(data) as mt:
        mt.add_memories(
            [AddMemoryRequest(agent_id="a", content=f"memory {i} " + "z" * 500) for i in range(200)]
        )
    damage_a_page(data / "memtrace.db", "memories_agent_time")
    with pytest.raises(StoreCorruptedError) as err:
        Memtrace.open(data)
    assert "damaged" in err.value.message and "backup" in err.value.message


def test_one_query_has_a_time_budget(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Memtrace.open(data) as mt:
        for start in range(0, 20_000, 1000):
            mt.add_memories(
                [
                    AddMemoryRequest(agent_id="a", content=f"note {i} ünïcode")
                    for i in range(start, start + 1000)
                ]
            )
    with Memtrace.open(data, query_budget_s=0.002) as mt:
        with pytest.raises(QueryTooExpensiveError) as err:
            mt.search_memories(SearchQuery(content_contains="ñothing-like-this", limit=10))
        assert err.value.status_code == 422
        # Cheap queries still run, and the connection is fine afterwards.
        assert mt.list_memories(ListOptions(agent_id="a", limit=5)).count == 5


def test_opening_waits_for_another_process_creating_the_same_store(tmp_path: Path) -> None:
    """Several processes opening one new data directory at once: while the first still holds the fresh file's
    write lock (before it switched to WAL), the others wait for it instead of failing with "database is locked"
    (SQLite answers that at once there, without its busy timeout)."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    creator = sqlite3.connect(data / "memtrace.db", isolation_level=None, check_same_thread=False)
    creator.execute("CREATE TABLE creating (x)")  # the file exists, in SQLite's default rollback-journal mode
    creator.execute("BEGIN IMMEDIATE")
    creator.execute("INSERT INTO creating VALUES (1)")
    release = threading.Timer(0.3, lambda: creator.execute("COMMIT"))
    release.start()
    try:
        with Memtrace.open(data) as mt:
            mt.add_memory(AddMemoryRequest(agent_id="a", content="opened after the creator let go"))
            assert mt.list_memories().count == 1
    finally:
        release.join()
        creator.close()
