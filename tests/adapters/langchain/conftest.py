"""Fixtures for the LangChain adapter: memtrace clients that reach one set of data, embedded or remote.

Every client factory is parametrized over an embedded engine on one SQLite directory and the shared live
server (skipped until memtrace-server is built), so each behaviour is checked in both modes.
"""

from __future__ import annotations

import os

# Frameworks under test must never phone home (the Makefile sets these too; a bare `pytest` must be as safe).
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.pop("LANGCHAIN_TRACING_V2", None)

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memtrace import AsyncMemtrace, Memtrace

SyncFactory = Callable[[], Memtrace]
AsyncFactory = Callable[[], AsyncMemtrace]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "memtrace-data"


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique ids per test, since remote tests share one server."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def open_client(open_memtrace: SyncFactory) -> SyncFactory:
    """A factory of fresh `Memtrace` clients that all reach the same data (embedded, then remote)."""
    return open_memtrace


@pytest.fixture
def client(open_client: SyncFactory) -> Memtrace:
    return open_client()


@pytest.fixture
def embedded_client(data_dir: Path) -> Iterator[Memtrace]:
    """For checks that do not depend on where the data lives."""
    with Memtrace.open(data_dir) as client:
        yield client


@pytest.fixture
def open_async_client(open_async_memtrace: AsyncFactory) -> AsyncFactory:
    """A factory of fresh `AsyncMemtrace` clients that all reach the same data (embedded, then remote)."""
    return open_async_memtrace


@pytest.fixture
def async_client(open_async_client: AsyncFactory) -> AsyncMemtrace:
    return open_async_client()
