"""MEMTRACE_STORE_URL names the store for every entry point, not only `memtrace serve`: `Memtrace.from_env`
and the MCP server (`memtrace mcp`) open PostgreSQL when it holds a ``postgresql://`` URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.mcp_session import call, json_of, server_env, stdio_session, text_of

from memtrace import AsyncMemtrace, ListOptions, Memtrace
from memtrace_server.mcp_server import describe_store


def test_from_env_opens_the_postgresql_store_url(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMTRACE_URL", raising=False)
    monkeypatch.setenv("MEMTRACE_DATA_DIR", str(tmp_path / "unused"))
    monkeypatch.setenv("MEMTRACE_STORE_URL", pg_url)
    with Memtrace.from_env() as mt:
        mt.remember("planner", "Kept in PostgreSQL")
    assert not (tmp_path / "unused").exists()
    with Memtrace.open(pg_url) as mt:
        assert [m.content for m in mt.list_memories(ListOptions()).memories] == ["Kept in PostgreSQL"]


async def test_async_from_env_opens_the_postgresql_store_url(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMTRACE_URL", raising=False)
    monkeypatch.setenv("MEMTRACE_DATA_DIR", str(tmp_path / "unused"))
    monkeypatch.setenv("MEMTRACE_STORE_URL", pg_url)
    async with AsyncMemtrace.from_env() as mt:
        await mt.remember("planner", "Async, in PostgreSQL")
    with Memtrace.open(pg_url) as mt:
        assert [m.content for m in mt.list_memories(ListOptions()).memories] == ["Async, in PostgreSQL"]


def test_mcp_start_up_line_names_the_store_url_without_its_password() -> None:
    env = {"MEMTRACE_STORE_URL": "postgresql://memtrace:s3cret@db.internal:5432/memtrace"}
    described = describe_store(env)
    assert described == "store postgresql://memtrace:<redacted>@db.internal:5432/memtrace"


async def test_the_mcp_server_keeps_memories_in_the_store_url(pg_url: str, tmp_path: Path) -> None:
    env = server_env(tmp_path / "unused")
    env["MEMTRACE_STORE_URL"] = pg_url
    async with stdio_session(env) as session:
        text_of(
            await call(session, "memtrace_remember", agent_id="reviewer", content="Reviewed in PostgreSQL")
        )
        recalled = json_of(await call(session, "memtrace_recall", agent_id="reviewer", since="1h"))
    assert [m["content"] for m in recalled["memories"]] == ["Reviewed in PostgreSQL"]
    assert not (tmp_path / "unused").exists()
    with Memtrace.open(pg_url) as mt:
        assert [m.content for m in mt.list_memories(ListOptions()).memories] == ["Reviewed in PostgreSQL"]
