"""A forget's batches run on the SQLite store's second connection (`SQLiteDatabase.aside`): readers of the same
process keep reading while a batch is open, and a writer queued behind the batch waits at the write gate, not
holding the connection the readers need."""

from __future__ import annotations

import threading
from pathlib import Path

from memtrace import AddMemoryRequest, ListOptions, Memtrace
from memtrace.records import MemoryFilter
from memtrace.stores import open_stores
from memtrace.stores.sqlite import SQLiteEventStore

ORG = "org_default"


def _store_with(tmp_path: Path, n: int) -> Path:
    data = tmp_path / "data"
    with Memtrace.open(data) as mt:
        mt.add_memories([AddMemoryRequest(agent_id="subject", content=f"note {i}") for i in range(n)])
        mt.add_memory(AddMemoryRequest(agent_id="other", content="kept"))
    return data


def _count(events: SQLiteEventStore, agent: str) -> int:
    return events.count(ORG, MemoryFilter(agent_id=agent))


def test_readers_read_their_snapshot_while_a_forget_batch_is_open(tmp_path: Path) -> None:
    bundle = open_stores(_store_with(tmp_path, 30))
    events = bundle.events
    assert isinstance(events, SQLiteEventStore)
    entered, release = threading.Event(), threading.Event()

    def batch_left_open() -> None:
        with events.db.aside().write() as conn:
            conn.execute("DELETE FROM memories WHERE agent_id = 'subject'")
            entered.set()
            release.wait(30)

    holder = threading.Thread(target=batch_left_open)
    holder.start()
    try:
        assert entered.wait(30)
        # Before: one connection under one lock, so this read waited for the batch (here: for ever).
        assert _count(events, "subject") == 30
        assert holder.is_alive()
    finally:
        release.set()
        holder.join()
    assert _count(events, "subject") == 0
    bundle.close()


def test_a_writer_queued_behind_a_batch_does_not_hold_up_readers(tmp_path: Path) -> None:
    bundle = open_stores(_store_with(tmp_path, 5))
    events = bundle.events
    assert isinstance(events, SQLiteEventStore)
    entered, release = threading.Event(), threading.Event()

    def batch_left_open() -> None:
        with events.db.aside().write() as conn:
            conn.execute("DELETE FROM memories WHERE agent_id = 'subject'")
            entered.set()
            release.wait(30)

    def queued_writer() -> None:
        with events.db.write() as conn:
            conn.execute("UPDATE fts_state SET indexed_rowid = indexed_rowid WHERE id = 1")

    holder = threading.Thread(target=batch_left_open)
    holder.start()
    writer = threading.Thread(target=queued_writer)
    try:
        assert entered.wait(30)
        writer.start()
        # The writer waits at the gate; the readers' connection is free.
        assert _count(events, "other") == 1
        assert _count(events, "subject") == 5
        assert writer.is_alive()
    finally:
        release.set()
        holder.join()
        writer.join()
    assert _count(events, "subject") == 0
    bundle.close()


def test_forget_through_the_second_connection_leaves_nothing_and_closes(tmp_path: Path) -> None:
    data = _store_with(tmp_path, 600)
    with Memtrace.open(data) as mt:
        receipt = mt.forget(agent_id="subject")
        assert receipt.removed["memories"] == 600
        assert mt.list_memories(ListOptions(agent_id="subject")).count == 0
        assert [m.content for m in mt.list_memories(ListOptions()).memories] == ["kept"]
    # Both connections closed: the store opens again and says the same.
    with Memtrace.open(data) as mt:
        assert mt.list_memories(ListOptions(agent_id="subject")).count == 0


def test_the_servers_metadata_connection_queues_its_writers_at_the_same_gate(tmp_path: Path) -> None:
    # The server reads API keys through a metadata connection of its own; a metadata write queued behind a
    # forget's batch must not hold that connection while it waits.
    bundle = open_stores(_store_with(tmp_path, 5), separate_metadata_connection=True)
    events, metadata = bundle.events, bundle.metadata
    assert isinstance(events, SQLiteEventStore)
    entered, release = threading.Event(), threading.Event()

    def batch_left_open() -> None:
        with events.db.aside().write() as conn:
            conn.execute("DELETE FROM memories WHERE agent_id = 'subject'")
            entered.set()
            release.wait(30)

    def queued_metadata_writer() -> None:
        with metadata.db.write() as conn:  # type: ignore[attr-defined]
            conn.execute("UPDATE fts_state SET indexed_rowid = indexed_rowid WHERE id = 1")

    holder = threading.Thread(target=batch_left_open)
    holder.start()
    writer = threading.Thread(target=queued_metadata_writer)
    try:
        assert entered.wait(30)
        writer.start()
        assert metadata.get_agent(ORG, "nobody") is None
        assert writer.is_alive()
    finally:
        release.set()
        holder.join()
        writer.join()
    bundle.close()
