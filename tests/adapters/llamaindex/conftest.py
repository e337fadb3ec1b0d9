"""Fixtures for the LlamaIndex adapter tests: real memtrace clients on real SQLite files, a remote client
against the shared live server, and a scripted offline chat model."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from llamaindex_helpers import ScriptedLLM

from memtrace import AsyncMemtrace, Memtrace


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh embedded memtrace data directory."""
    return tmp_path / "memtrace-data"


@pytest.fixture
def client(data_dir: Path) -> Iterator[Memtrace]:
    with Memtrace.open(data_dir) as mt:
        yield mt


@pytest.fixture
async def aclient(data_dir: Path) -> AsyncIterator[AsyncMemtrace]:
    async with AsyncMemtrace.open(data_dir) as mt:
        yield mt


@pytest.fixture
def remote_client(live_server: Any) -> Iterator[Memtrace]:
    with Memtrace(live_server.base_url, live_server.api_key) as mt:
        yield mt


@pytest.fixture
def unique_agent() -> str:
    """An agent id no other test uses, for data shared on the live server."""
    return f"li-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def scripted_llm() -> ScriptedLLM:
    return ScriptedLLM()
