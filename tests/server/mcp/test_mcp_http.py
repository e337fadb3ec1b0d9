"""`memtrace mcp --http`: the same tools over streamable HTTP, embedded store."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
from support.mcp_session import (
    MODULE_COMMAND,
    call,
    create_key,
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
from memtrace_server.mcp import TOOL_NAMES


async def test_round_trip_and_bad_calls_over_streamable_http(
    data_dir: Path, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    key = create_key(data_dir)
    with http_server(server_env(data_dir), tmp_path) as server:
        async with http_session(server.url, key) as session:
            assert len((await session.list_tools()).tools) == len(TOOL_NAMES)
            trip = await exercise_round_trip(session, unique("reviewer"))
            await exercise_bad_calls(session, unique("agent"))
        assert server.process.poll() is None  # still serving after every bad call

    assert server.process.returncode == 0  # SIGTERM is a clean shutdown
    with Memtrace.open(data_dir) as mt:
        assert mt.get_memory(trip.remembered_id).content == "Deployed version 2.3 to staging"


async def test_clients_share_one_store(data_dir: Path, tmp_path: Path, unique: Callable[[str], str]) -> None:
    """What one MCP client remembers, another recalls: sessions are connections, not separate memories."""
    agent = unique("agent")
    key = create_key(data_dir)
    with http_server(server_env(data_dir), tmp_path) as server:
        async with http_session(server.url, key) as writer, http_session(server.url, key) as reader:
            text_of(
                await call(writer, "memtrace_remember", agent_id=agent, content="Staging DB is read-only")
            )
            recalled = json_of(await call(reader, "memtrace_recall", agent_id=agent))
    assert [m["content"] for m in recalled["memories"]] == ["Staging DB is read-only"]


def test_requests_from_a_foreign_origin_are_refused(data_dir: Path, tmp_path: Path) -> None:
    """On loopback the endpoint turns away browser requests from other sites (DNS rebinding protection)."""
    key = create_key(data_dir)
    with http_server(server_env(data_dir), tmp_path) as server:
        response = httpx.post(
            server.url,
            headers={
                "Authorization": f"Bearer {key}",
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


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_every_request_needs_an_api_key_of_the_served_organization(data_dir: Path, tmp_path: Path) -> None:
    # Before, any local process could read, plant and delete memories through an open endpoint.
    good = create_key(data_dir)
    read_only = create_key(data_dir, "read")
    other_org = create_key(data_dir, org_id="org_other")
    with http_server(server_env(data_dir), tmp_path) as server:

        def post(**headers: str) -> httpx.Response:
            return httpx.post(server.url, headers={**MCP_HEADERS, **headers}, json=INITIALIZE)

        assert post().status_code == 401
        assert post(Authorization="Bearer mtk_" + "A" * 43 + "=").status_code == 401
        assert post(Authorization=f"Bearer {read_only}").status_code == 403
        assert post(Authorization=f"Bearer {other_org}").status_code == 403
        ambiguous = post(Authorization=f"Bearer {good}", **{"x-api-key": read_only})
        assert ambiguous.status_code == 401 and "ambiguous" in ambiguous.json()["error"]
        refused = post()
        assert (
            refused.headers["www-authenticate"].startswith("Bearer") and "API key" in refused.json()["hint"]
        )
        assert post(Authorization=f"Bearer {good}").status_code == 200


async def test_insecure_no_auth_runs_open_on_loopback(
    data_dir: Path, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    with http_server(server_env(data_dir), tmp_path, args=("--insecure-no-auth",)) as server:
        async with http_session(server.url) as session:
            text_of(
                await call(session, "memtrace_remember", agent_id=unique("a"), content="open on loopback")
            )


def test_insecure_no_auth_is_refused_off_loopback(data_dir: Path) -> None:
    done = subprocess.run(
        [*MODULE_COMMAND, "--http", "--host", "0.0.0.0", "--port", str(free_port()), "--insecure-no-auth"],
        env=server_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "only allowed on a loopback address" in done.stderr


def test_host_and_origin_are_checked_on_every_loopback_address(data_dir: Path, tmp_path: Path) -> None:
    # Before, only 127.0.0.1, localhost and ::1 got DNS-rebinding protection; 127.0.0.2 had none.
    key = create_key(data_dir)
    with http_server(server_env(data_dir), tmp_path, host="127.0.0.2") as server:
        auth = {"Authorization": f"Bearer {key}"}
        rebound = httpx.post(
            server.url, headers={**MCP_HEADERS, **auth, "Host": "evil.example"}, json=INITIALIZE
        )
        foreign = httpx.post(
            server.url, headers={**MCP_HEADERS, **auth, "Origin": "http://evil.example"}, json=INITIALIZE
        )
        local = httpx.post(server.url, headers={**MCP_HEADERS, **auth}, json=INITIALIZE)
    assert rebound.status_code == 421 and foreign.status_code == 403
    assert local.status_code == 200
