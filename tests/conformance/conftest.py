"""The store conformance suite's fixtures.

`STORE_FACTORIES` names every EventStore the suite runs against. A factory takes a fresh directory and returns a
context manager that yields the store (and tears down whatever it started). A new store is done when the whole
suite passes against it: add one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from arc.stores import ARC_STORE_FACTORIES
from postgres.stores import POSTGRES_STORE_FACTORIES

from memtrace.engine import Engine, EngineConfig
from memtrace.stores.base import EventStore
from memtrace.stores.sqlite import SQLiteDatabase, SQLiteEventStore, SQLiteMetadataStore


@contextmanager
def sqlite_store(directory: Path) -> Iterator[EventStore]:
    store = SQLiteEventStore(SQLiteDatabase(directory / "events"))
    try:
        yield store
    finally:
        store.close()


StoreFactory = Callable[[Path], AbstractContextManager[EventStore]]

STORE_FACTORIES: dict[str, StoreFactory] = {
    "sqlite": sqlite_store,
    **ARC_STORE_FACTORIES,  # arc-standin, arc-real (tests/arc/stores.py)
    **POSTGRES_STORE_FACTORIES,  # postgres (tests/postgres/stores.py)
}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    return STORE_FACTORIES[request.param]


def make_engine(events: EventStore, directory: Path, **config: object) -> Engine:
    metadata = SQLiteMetadataStore(SQLiteDatabase(directory / "metadata"))
    return Engine(events, metadata, EngineConfig(**config))  # type: ignore[arg-type]


@pytest.fixture
def engine(store_factory: StoreFactory, tmp_path: Path) -> Iterator[Engine]:
    """An engine over the store under test (metadata in SQLite), dedup on with the default 24 h window."""
    with store_factory(tmp_path) as events:
        yield make_engine(events, tmp_path)


@pytest.fixture
def engine_factory(store_factory: StoreFactory, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Build an engine with a custom EngineConfig over a fresh store of the kind under test."""
    stack: list[AbstractContextManager[EventStore]] = []

    def build(**config: object) -> Engine:
        directory = tmp_path / f"e{len(stack)}"
        directory.mkdir()
        cm = store_factory(directory)
        stack.append(cm)
        return make_engine(cm.__enter__(), directory, **config)

    yield build
    for cm in reversed(stack):
        cm.__exit__(None, None, None)
