"""Remote mode: `memtrace mcp` against a live memtrace server (MEMTRACE_URL + MEMTRACE_API_KEY), over both
transports. The memories must land on the server, and nothing in the local data directory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from support.mcp_session import (
    exercise_bad_calls,
    exercise_round_trip,
    free_port,
    http_server,
    http_session,
    server_env,
    stdio_session,
)

from memtrace import Memtrace


@asynccontextmanager
async def remote_session(transport: str, env: dict[str, str], log_dir: Path) -> AsyncIterator[ClientSession]:
    if transport == "stdio":
        async with stdio_session(env) as session:
            yield session
    else:
        with http_server(env, log_dir) as server:
            async with http_session(server.url, env["MEMTRACE_API_KEY"]) as session:
                yield session


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_round_trip_against_a_live_server(
    transport: str, live_server: Any, data_dir: Path, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    env = server_env(data_dir, url=live_server.base_url, api_key=live_server.api_key)
    async with remote_session(transport, env, tmp_path) as session:
        trip = await exercise_round_trip(session, unique("reviewer"))
        await exercise_bad_calls(session, unique("agent"))

    with Memtrace(live_server.base_url, live_server.api_key) as mt:
        assert mt.get_memory(trip.remembered_id).content == "Deployed version 2.3 to staging"
        assert mt.get_session_memories(trip.session_id).count == 2
    assert not await anyio.Path(data_dir).exists()  # remote mode never touched the embedded store


async def test_a_wrong_api_key_is_a_tool_error_not_a_crash(
    live_server: Any, data_dir: Path, unique: Callable[[str], str]
) -> None:
    env = server_env(data_dir, url=live_server.base_url, api_key="mtk_" + "A" * 43)
    async with stdio_session(env) as session:
        for _ in range(2):  # and the server is still there for the next call
            result = await session.call_tool("memtrace_recall", {"agent_id": unique("agent")})
            assert result.isError
            assert "(status 401): invalid API key" in result.content[0].text  # type: ignore[union-attr]


async def test_an_unreachable_server_is_a_tool_error_not_a_crash(
    data_dir: Path, unique: Callable[[str], str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with stdio_session(server_env(data_dir, url=url, api_key="mtk_" + "A" * 43)) as session:
        for _ in range(2):
            result = await session.call_tool("memtrace_recall", {"agent_id": unique("agent")})
            assert result.isError
            assert f"cannot reach the memtrace server at {url}" in result.content[0].text  # type: ignore[union-attr]
