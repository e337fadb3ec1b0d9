"""Fixtures for the OpenAI Agents SDK adapter: tracing off, and memtrace clients embedded or remote."""

from __future__ import annotations

import os

# Before `agents` is imported anywhere: the SDK must never try to export traces from a test.
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"

import uuid
from collections.abc import Callable, Iterator
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


@pytest.fixture
def open_client(open_async_memtrace: ClientFactory) -> ClientFactory:
    """A factory of fresh `AsyncMemtrace` clients that all reach the same data (embedded, then remote)."""
    return open_async_memtrace


@pytest.fixture
def sync_client(data_dir: Path) -> Iterator[Memtrace]:
    with Memtrace.open(data_dir) as client:
        yield client
