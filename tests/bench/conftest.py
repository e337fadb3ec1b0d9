"""The benchmark suite's smoke tests import `bench` from the repository root and keep its data in tmp_path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(autouse=True)
def bench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own bench work directory, and the harness's progress lines stay quiet."""
    workdir = tmp_path / "bench-work"
    monkeypatch.setenv("MEMTRACE_BENCH_WORKDIR", str(workdir))
    monkeypatch.setenv("MEMTRACE_BENCH_QUIET", "1")
    yield workdir
