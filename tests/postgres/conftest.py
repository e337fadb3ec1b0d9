"""Fixtures for the PostgreSQL store's own tests (the conformance suite runs it too, see stores.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memtrace.stores.postgres import (
    PostgresDatabase,
    PostgresEventStore,
    PostgresMetadataStore,
    open_postgres_database,
)

from .server import fresh_schema_url
from .stores import TEST_POOL


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL to an empty schema of this session's test database."""
    with fresh_schema_url() as url:
        yield url


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[PostgresDatabase]:
    db = open_postgres_database(pg_url, TEST_POOL)
    yield db
    db.close()


@pytest.fixture
def pg_events(pg_db: PostgresDatabase) -> PostgresEventStore:
    return PostgresEventStore(pg_db)


@pytest.fixture
def pg_metadata(pg_db: PostgresDatabase) -> PostgresMetadataStore:
    return PostgresMetadataStore(pg_db)
