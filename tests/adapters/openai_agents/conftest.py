"""Fixtures for the OpenAI Agents SDK adapter: tracing off, and memtrace clients embedded or remote."""

from __future__ import annotations

import os

# Before `agents` is imported anywhere: the SDK must never try to export traces from a test.
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from agents import set_tracing_disabled

from memtrace import AsyncMemtrace, Memtrace

set_tracing_disabled(True)

ClientFactory = Callable[[], AsyncMemtrace]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "memtrace-data"


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique ids per test, since remote tests share one server."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["embedded", "remote"])
async def open_client(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[ClientFactory]:
    """A factory of fresh `AsyncMemtrace` clients that all reach the same data: an embedded engine on one
    SQLite directory, or the shared live server."""
    if request.param == "remote":
        server = request.getfixturevalue("live_server")

        def make() -> AsyncMemtrace:
            return AsyncMemtrace(server.base_url, server.api_key)
    else:

        def make() -> AsyncMemtrace:
            return AsyncMemtrace.open(data_dir)

    opened: list[AsyncMemtrace] = []

    def factory() -> AsyncMemtrace:
        client = make()
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.close()


@pytest.fixture
def sync_client(data_dir: Path) -> Iterator[Memtrace]:
    with Memtrace.open(data_dir) as client:
        yield client
