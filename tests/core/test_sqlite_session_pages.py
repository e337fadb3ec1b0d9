"""The SQLite store's session-page indexes (`page_sessions`, most recently updated first, read as an index walk
instead of a sort of every session of the org): a store written before them is upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from memtrace.stores import SessionRow, open_stores
from memtrace.stores.sqlite.schema import MIGRATIONS

INDEXES = ("sessions_updated", "sessions_status_updated")
PAGE = (
    "SELECT * FROM sessions WHERE org_id = 'org_a' {status}ORDER BY updated_us DESC, created_us DESC, id DESC "
    "LIMIT 5"
)


def _pages(data: Path) -> list[tuple[list[str], int]]:
    stores = open_stores(data)
    try:
        found = []
        for status in (None, "active", "closed"):
            for offset in (0, 5, 29):
                page = stores.metadata.page_sessions(
                    "org_a", agent_id=None, status=status, order="updated", limit=7, offset=offset
                )
                found.append(([r.id for r in page.rows], page.total))
        return found
    finally:
        stores.close()


def test_a_store_from_before_the_session_page_indexes_is_upgraded_in_place(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stores = open_stores(data)
    for i in range(30):
        status = "closed" if i % 3 else "active"
        stores.metadata.create_session(
            SessionRow(f"s{i:02d}", "org_a", f"agent{i % 4}", status, None, i, 100 - i % 7, None)
        )
    stores.metadata.create_session(SessionRow("other", "org_b", "agent0", "active", None, 0, 999, None))
    stores.close()
    with_indexes = _pages(data)
    # As the code before the indexes left it: none of them, the version before their migration.
    version = next(i for i, m in enumerate(MIGRATIONS) if any(INDEXES[0] in s for s in m))
    conn = sqlite3.connect(data / "memtrace.db")
    for name in INDEXES:
        conn.execute(f"DROP INDEX {name}")
    conn.execute(f"PRAGMA user_version={version}")
    conn.commit()
    conn.close()
    assert _pages(data) == with_indexes  # opening migrates
    conn = sqlite3.connect(data / "memtrace.db")
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        # The pages walk an index from the newest: no sort of the org's sessions.
        for status in ("", "AND status = 'active' "):
            plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + PAGE.format(status=status)))
            assert "USING INDEX sessions_" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        conn.close()
    assert with_indexes[0] == (
        ["s28", "s21", "s14", "s07", "s00", "s29", "s22"],
        30,
    )  # ties: newest created first
