"""Fixtures for the MCP server tests: a private data directory and unique ids per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The embedded store the spawned server writes to (MEMTRACE_DATA_DIR)."""
    return tmp_path / "memtrace-data"


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique ids per test, since remote tests share one server."""
    return lambda prefix: f"{prefix}_{uuid.uuid4().hex[:12]}"
