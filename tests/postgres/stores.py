"""The PostgreSQL entry of the store conformance registry (`tests/conformance/conftest.py`): a fresh schema of
this session's test database, opened through `open_stores` by its URL (so other processes can share it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.stores import StoreLocation, StoreTarget

from memtrace.stores.postgres import PoolOptions

from .server import fresh_schema_url

TEST_POOL = PoolOptions(min_size=1, max_size=4)
"""Small pools: about seven test sessions share one server's 100 connections."""


@contextmanager
def postgres_location(directory: Path) -> Iterator[StoreLocation]:
    with fresh_schema_url() as url:
        yield StoreLocation(url)  # by URL alone (other processes open it too); the default pool starts at one


POSTGRES_STORES: dict[str, StoreTarget] = {
    "postgres": StoreTarget(postgres_location, shared=True),
}
