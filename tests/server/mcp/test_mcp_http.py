"""`memtrace mcp --http`: the same tools over streamable HTTP, embedded store."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
from support.mcp_session import (
    MODULE_COMMAND,
    call,
    exercise_bad_calls,
    exercise_round_trip,
    free_port,
    http_server,
    http_session,
    json_of,
    server_env,
    text_of,
)

from memtrace import Memtrace


async def test_round_trip_and_bad_calls_over_streamable_http(
    data_dir: Path, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    with http_server(server_env(data_dir), tmp_path) as server:
        async with http_session(server.url) as session:
            assert len((await session.list_tools()).tools) == 9
            trip = await exercise_round_trip(session, unique("reviewer"))
            await exercise_bad_calls(session, unique("agent"))
        assert server.process.poll() is None  # still serving after every bad call

    assert server.process.returncode == 0  # SIGTERM is a clean shutdown
    with Memtrace.open(data_dir) as mt:
        assert mt.get_memory(trip.remembered_id).content == "Deployed version 2.3 to staging"


async def test_clients_share_one_store(data_dir: Path, tmp_path: Path, unique: Callable[[str], str]) -> None:
    """What one MCP client remembers, another recalls: sessions are connections, not separate memories."""
    agent = unique("agent")
    with http_server(server_env(data_dir), tmp_path) as server:
        async with http_session(server.url) as writer, http_session(server.url) as reader:
            text_of(
                await call(writer, "memtrace_remember", agent_id=agent, content="Staging DB is read-only")
            )
            recalled = json_of(await call(reader, "memtrace_recall", agent_id=agent))
    assert [m["content"] for m in recalled["memories"]] == ["Staging DB is read-only"]


def test_requests_from_a_foreign_origin_are_refused(data_dir: Path, tmp_path: Path) -> None:
    """On loopback the endpoint turns away browser requests from other sites (DNS rebinding protection)."""
    with http_server(server_env(data_dir), tmp_path) as server:
        response = httpx.post(
            server.url,
            headers={
                "Origin": "http://evil.example",
                "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json",
            },
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        )
    assert response.status_code == 403


def test_a_taken_port_is_a_clear_startup_failure(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    with http_server(server_env(data_dir), tmp_path, port=port):
        done = subprocess.run(
            [*MODULE_COMMAND, "--http", "--port", str(port)],
            env=server_env(data_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "address already in use" in done.stderr.lower()
