"""The PostgreSQL entry of the store conformance registry (`tests/conformance/conftest.py`): a
`PostgresEventStore` over a fresh schema of this session's test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from memtrace.stores.base import EventStore
from memtrace.stores.postgres import PoolOptions, PostgresEventStore, open_postgres_database

from .server import fresh_schema_url

TEST_POOL = PoolOptions(min_size=1, max_size=4)  # ~7 sessions share one server's 100 connections


@contextmanager
def postgres_store(directory: Path) -> Iterator[EventStore]:
    with fresh_schema_url() as url:
        store = PostgresEventStore(open_postgres_database(url, TEST_POOL), owns_db=True)
        try:
            yield store
        finally:
            store.close()


POSTGRES_STORE_FACTORIES: dict[str, Callable[[Path], AbstractContextManager[EventStore]]] = {
    "postgres": postgres_store,
}
