"""The PostgreSQL store's session-page indexes (`page_sessions`, most recently updated first): a database written
before them is upgraded in place and pages the same sessions."""

from __future__ import annotations

import psycopg

from memtrace.stores import SessionRow
from memtrace.stores.postgres import PostgresMetadataStore, migrate, open_postgres_database
from memtrace.stores.postgres.schema import MIGRATIONS, SCHEMA_VERSION

from .stores import TEST_POOL

INDEXES = ("sessions_updated", "sessions_status_updated")


def test_a_database_from_before_the_session_page_indexes_is_upgraded_in_place(pg_url: str) -> None:
    db = open_postgres_database(pg_url, TEST_POOL)
    try:
        meta = PostgresMetadataStore(db)
        for i in range(30):
            status = "closed" if i % 3 else "active"
            meta.create_session(
                SessionRow(f"s{i:02d}", "org_a", f"agent{i % 4}", status, None, i, 100 - i % 7, None)
            )
        meta.create_session(SessionRow("other", "org_b", "agent0", "active", None, 0, 999, None))

        def pages() -> list[tuple[list[str], int]]:
            found = []
            for status in (None, "active", "closed"):
                for offset in (0, 5, 29):
                    page = meta.page_sessions(
                        "org_a", agent_id=None, status=status, order="updated", limit=7, offset=offset
                    )
                    found.append(([r.id for r in page.rows], page.total))
            return found

        with_indexes = pages()
        # As the code before the indexes left it: none of them, the version before their migration.
        added = next(n for n, m in enumerate(MIGRATIONS) if any(INDEXES[0] in s for s in m))
        assert added == SCHEMA_VERSION - 1
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for name in INDEXES:
                conn.execute(f"DROP INDEX {name}")
            conn.execute("UPDATE memtrace_schema SET version = %s", (added,))
        assert pages() == with_indexes
        assert migrate(pg_url) == [SCHEMA_VERSION]
        with psycopg.connect(pg_url, autocommit=True) as conn:
            names = {
                r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'sessions'")
            }
        assert set(INDEXES) <= names
        assert pages() == with_indexes
        assert with_indexes[0] == (
            ["s28", "s21", "s14", "s07", "s00", "s29", "s22"],
            30,
        )  # ties: newest created first
    finally:
        db.close()
