"""A spool file written before memories could expire opens, gains the column, and keeps its rows readable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from memtrace.records import MemoryFilter
from memtrace.stores.arc.spool import ArcSpool

OLD_SPOOL = """CREATE TABLE spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time_us INTEGER NOT NULL, id TEXT NOT NULL, org_id TEXT NOT NULL,
    agent_id TEXT NOT NULL, session_id TEXT, memory_type TEXT NOT NULL, event_type TEXT NOT NULL,
    content TEXT NOT NULL, metadata_json TEXT, tags_csv TEXT, dedup_key TEXT, importance REAL, parent_id TEXT,
    search_terms TEXT NOT NULL, term_count INTEGER NOT NULL)"""


def test_an_old_spool_file_gains_the_expiry_column(tmp_path: Path) -> None:
    path = tmp_path / "arc-spool.db"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_SPOOL)
        conn.execute(
            "INSERT INTO spool (time_us, id, org_id, agent_id, memory_type, event_type, content, search_terms, "
            "term_count) VALUES (20000000000000, 'mem_old', 'org', 'a', 'episodic', 'general', 'old row', ' old ', 1)"
        )
    spool = ArcSpool(path)
    try:
        (old,) = spool.query("org", MemoryFilter(alive_at_us=30_000_000_000_000), order="asc", limit=10)
        assert (old.id, old.expires_us) == ("mem_old", None)
        assert spool.query("org", MemoryFilter(expired_by_us=30_000_000_000_000), order="asc", limit=10) == []
    finally:
        spool.close()
