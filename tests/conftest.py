"""Fixtures shared by the whole suite.

`live_server` starts a real `memtrace serve` process (the one launcher, `memtrace_server.testing`) on a free
loopback port, with a known admin key, on a fresh data directory, and stops it at the end of the session.
Remote-mode tests of every package use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from support.server import ServerProcess, make_api_key, start_server

from memtrace import AsyncMemtrace, Memtrace


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real memtrace server on loopback, shared by the session. Tests must scope their data by unique
    agent/session ids, since other tests write to the same server."""
    root = tmp_path_factory.mktemp("live-server")
    server = start_server(root / "data", api_key=make_api_key(b"memtrace-live-server-admin-key"))
    yield server
    server.stop(timeout=15)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh embedded data directory (suites may override it)."""
    return tmp_path / "data"


@pytest.fixture(params=["embedded", "remote"])
def open_memtrace(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Callable[[], Memtrace]]:
    """A factory of fresh `Memtrace` clients that all reach the same data: an embedded engine on `data_dir`,
    or the shared live server. Every test that takes it runs once per backend; clients are closed after."""
    if request.param == "remote":
        server: ServerProcess = request.getfixturevalue("live_server")

        def make() -> Memtrace:
            return Memtrace(server.base_url, server.api_key)
    else:

        def make() -> Memtrace:
            return Memtrace.open(data_dir)

    opened: list[Memtrace] = []

    def factory() -> Memtrace:
        opened.append(make())
        return opened[-1]

    yield factory
    for client in opened:
        client.close()


@pytest.fixture(params=["embedded", "remote"])
async def open_async_memtrace(
    request: pytest.FixtureRequest, data_dir: Path
) -> AsyncIterator[Callable[[], AsyncMemtrace]]:
    """`open_memtrace` for `AsyncMemtrace`."""
    if request.param == "remote":
        server: ServerProcess = request.getfixturevalue("live_server")

        def make() -> AsyncMemtrace:
            return AsyncMemtrace(server.base_url, server.api_key)
    else:

        def make() -> AsyncMemtrace:
            return AsyncMemtrace.open(data_dir)

    opened: list[AsyncMemtrace] = []

    def factory() -> AsyncMemtrace:
        opened.append(make())
        return opened[-1]

    yield factory
    for client in opened:
        await client.close()
