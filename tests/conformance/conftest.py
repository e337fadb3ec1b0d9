"""The store conformance suite's fixtures.

`STORES` names every kind of store the suite runs against, one line each (like langgraph's checkpoint
conformance): a `StoreTarget` says how to make a fresh location (`open_stores` arguments) in a directory, whether
other processes can share that location (then the concurrent-writer tests run on it), and whether its metadata
store is its own (then the metadata suite runs on it). A new store is done when the whole suite passes against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from arc.stores import ARC_STORES
from postgres.stores import POSTGRES_STORES
from support.stores import StoreLocation, StoreTarget

from memtrace.engine import Engine, EngineConfig
from memtrace.stores import StoreBundle


@contextmanager
def sqlite_location(directory: Path) -> Iterator[StoreLocation]:
    yield StoreLocation(str(directory / "store"))


STORES: dict[str, StoreTarget] = {
    "sqlite": StoreTarget(sqlite_location, shared=True),
    **ARC_STORES,  # arc-standin, arc-real (tests/arc/stores.py)
    **POSTGRES_STORES,  # postgres (tests/postgres/stores.py)
}

StoreFactory = Callable[[Path], AbstractContextManager[StoreBundle]]


def bundle_factory(target: StoreTarget) -> StoreFactory:
    """Fresh stores of `target`'s kind in a directory, closed (and cleaned up) when the block ends."""

    @contextmanager
    def open_fresh(directory: Path) -> Iterator[StoreBundle]:
        with target.locate(directory) as location:
            stores = location.open()
            try:
                yield stores
            finally:
                stores.close()

    return open_fresh


@pytest.fixture(params=sorted(STORES))
def store_target(request: pytest.FixtureRequest) -> StoreTarget:
    return STORES[request.param]


@pytest.fixture
def store_factory(store_target: StoreTarget) -> StoreFactory:
    return bundle_factory(store_target)


@pytest.fixture(params=sorted(name for name, t in STORES.items() if t.own_metadata))
def metadata_target(request: pytest.FixtureRequest) -> StoreTarget:
    """Every store whose metadata store is its own."""
    return STORES[request.param]


@pytest.fixture(params=sorted(name for name, t in STORES.items() if t.shared))
def shared_target(request: pytest.FixtureRequest) -> StoreTarget:
    """Every store several processes (server replicas) can open at once."""
    return STORES[request.param]


def make_engine(stores: StoreBundle, **config: object) -> Engine:
    return Engine.from_stores(stores, EngineConfig(**config))  # type: ignore[arg-type]


@pytest.fixture
def engine(store_factory: StoreFactory, tmp_path: Path) -> Iterator[Engine]:
    """An engine over the store under test, dedup on with the default 24 h window."""
    with store_factory(tmp_path) as stores:
        yield make_engine(stores)


@pytest.fixture
def engine_factory(store_factory: StoreFactory, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Build an engine with a custom EngineConfig over a fresh store of the kind under test."""
    stack: list[AbstractContextManager[StoreBundle]] = []

    def build(**config: object) -> Engine:
        directory = tmp_path / f"e{len(stack)}"
        directory.mkdir()
        cm = store_factory(directory)
        stack.append(cm)
        return make_engine(cm.__enter__(), **config)

    yield build
    for cm in reversed(stack):
        cm.__exit__(None, None, None)
