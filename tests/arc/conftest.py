"""Fixtures for the Arc store's tests: stand-in processes (NOT Arc) and stores pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memtrace.stores.arc import ArcEventStore

from .helpers import arc_config
from .standin import ArcStandIn

StandInFactory = Callable[..., ArcStandIn]
StoreFactory = Callable[..., ArcEventStore]


@pytest.fixture
def make_standin(tmp_path: Path) -> Iterator[StandInFactory]:
    """Start a private stand-in (tests that kill or fault it must not share one)."""
    started: list[ArcStandIn] = []

    def make(**options: Any) -> ArcStandIn:
        standin = ArcStandIn(tmp_path / f"arc{len(started)}", **options).start()
        started.append(standin)
        return standin

    yield make
    for standin in started:
        standin.close()


@pytest.fixture
def standin(make_standin: StandInFactory) -> ArcStandIn:
    return make_standin()


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[StoreFactory]:
    """An `ArcEventStore` on a stand-in, with a read/write token and the admin token for deletes."""
    opened: list[ArcEventStore] = []

    def make(
        standin: ArcStandIn, *, database: str | None = None, spool: Path | None = None, **overrides: Any
    ) -> ArcEventStore:
        config = arc_config(standin, database=database, **overrides)
        store = ArcEventStore(config, spool or tmp_path / f"spool{len(opened)}")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
