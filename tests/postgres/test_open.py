"""Opening the PostgreSQL store the way users do: by URL, through `Memtrace.open` and `open_stores`."""

from __future__ import annotations

import pytest

from memtrace import AddMemoryRequest, ListOptions, Memtrace, SearchQuery, ValidationError
from memtrace.stores import open_stores
from memtrace.stores.postgres import PostgresUnavailableError

from .test_store_behaviour import _closed_port


def test_memtrace_open_takes_a_postgresql_url(pg_url: str) -> None:
    with Memtrace.open(pg_url) as mt:
        mt.add_memory(AddMemoryRequest(agent_id="planner", content="User prefers dark mode", tags=["ui"]))
        mt.add_memory(AddMemoryRequest(agent_id="planner", content="Deployed v2 to staging"))
        found = mt.search_memories(SearchQuery(query="dark mode preference")).results
        assert [m.content for m in found] == ["User prefers dark mode"]
    with Memtrace.open(
        pg_url.replace("postgresql://", "postgresql+psycopg://")
    ) as again:  # a second process'
        assert len(again.list_memories(ListOptions()).memories) == 2  # view: everything is in the database


def test_unknown_options_are_refused_by_name(pg_url: str) -> None:
    with pytest.raises(ValidationError, match=r"unknown PostgreSQL store option.*pool_size") as info:
        open_stores(pg_url, pool_size=3)
    assert info.value.field == "url"


def test_a_stopped_server_is_a_clear_error_from_memtrace_open() -> None:
    with pytest.raises(
        PostgresUnavailableError, match=r"cannot connect to PostgreSQL at postgresql://127\.0\.0\.1"
    ):
        Memtrace.open(f"postgresql://postgres@127.0.0.1:{_closed_port()}/memtrace")


def test_bundle_reports_stats_and_ping(pg_url: str) -> None:
    stores = open_stores(pg_url)
    try:
        stores.ping()
        assert stores.stats().memories == 0
        assert "postgresql://127.0.0.1" in stores.description and "@" not in stores.description
    finally:
        stores.close()
