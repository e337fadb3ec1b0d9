"""Drive a spawned memtrace MCP server with the official `mcp` client, over stdio or streamable HTTP.

The scenarios here are what an MCP client does with memtrace; the stdio, HTTP and remote-mode tests run the
same ones, so every transport and store is held to the same behaviour.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult, TextContent

from memtrace.stores.sqlite import SQLiteDatabase, SQLiteMetadataStore
from memtrace.timeparse import now_us
from memtrace_server.keys import KeyStore
from memtrace_server.testing import child_env, free_port

MODULE_COMMAND = [sys.executable, "-m", "memtrace_server.mcp_server"]
"""The server without the CLI (`python -m memtrace_server.mcp_server`)."""

CLI_COMMAND = [sys.executable, "-m", "memtrace_server", "mcp"]
"""`memtrace mcp`, through the package's CLI."""


def server_env(data_dir: Path, *, url: str | None = None, api_key: str | None = None) -> dict[str, str]:
    """The spawned server's environment: ours minus any MEMTRACE_* setting, plus the store to use."""
    env = child_env({"MEMTRACE_DATA_DIR": str(data_dir)})
    if url is not None:
        env["MEMTRACE_URL"] = url
    if api_key is not None:
        env["MEMTRACE_API_KEY"] = api_key
    return env


@asynccontextmanager
async def stdio_session(
    env: dict[str, str], *, command: list[str] = MODULE_COMMAND, cwd: Path | None = None
) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session with a freshly spawned stdio server."""
    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=cwd)
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def create_key(data_dir: Path, permissions: str = "read,write", org_id: str = "org_default") -> str:
    """A new API key of `org_id` in the embedded store in `data_dir` (what `memtrace key create` does)."""
    keys = KeyStore(SQLiteMetadataStore(SQLiteDatabase(data_dir)))
    try:
        keys.metadata.ensure_org(org_id, org_id, now_us())
        return keys.create(org_id, f"mcp-{secrets.token_hex(4)}", permissions)[1]
    finally:
        keys.metadata.close()


@dataclass(frozen=True)
class HttpServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def http_server(
    env: dict[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    args: tuple[str, ...] = (),
) -> Iterator[HttpServer]:
    """`memtrace mcp --http` as a subprocess on a free loopback port; stopped (SIGTERM) on exit."""
    port = port or free_port()
    log = log_dir / f"mcp-http-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*MODULE_COMMAND, "--http", "--host", host, "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(proc, port, log, host)
        yield HttpServer(f"http://{host}:{port}/mcp", proc, log)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"MCP server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"MCP server did not listen on {port}:\n{log.read_text()}")


@asynccontextmanager
async def http_session(url: str, key: str | None = None) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session over streamable HTTP, sending `key` as a bearer token."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with (
        create_mcp_http_client(headers=headers) as client,
        streamable_http_client(url, http_client=client) as (read, write, _session_id),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


# ----------------------------------------------------------------------------------------- results


def text_of(result: CallToolResult) -> str:
    """The single text block of a successful call."""
    assert not result.isError, f"tool error: {result.content}"
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent), result.content
    return result.content[0].text


def json_of(result: CallToolResult) -> Any:
    return json.loads(text_of(result))


def error_of(result: CallToolResult) -> str:
    """The message of a failed call."""
    assert result.isError, f"expected a tool error, got {result.content}"
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent), result.content
    return result.content[0].text


async def call(session: ClientSession, tool: str, **arguments: Any) -> CallToolResult:
    return await session.call_tool(tool, arguments)


# --------------------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class RoundTrip:
    agent_id: str
    session_id: str
    remembered_id: str


async def exercise_round_trip(session: ClientSession, agent_id: str) -> RoundTrip:
    """remember -> recall -> search -> session_create -> remember in session -> session_context, then the
    extras (decide, get_memory, forget, agent_register), checking what a client reads back at each step."""
    # remember: the Memory comes back as JSON, every argument kept
    pref = json_of(
        await call(
            session,
            "memtrace_remember",
            agent_id=agent_id,
            content="User prefers dark mode in the editor",
            tags=["prefs", "ui"],
            importance=0.8,
            metadata={"source": "chat", "turn": 3},
        )
    )
    assert pref["id"].startswith("mem_")
    assert pref["agent_id"] == agent_id
    assert pref["content"] == "User prefers dark mode in the editor"
    assert (pref["memory_type"], pref["event_type"]) == ("episodic", "general")
    assert pref["tags"] == ["prefs", "ui"]
    assert pref["importance"] == 0.8
    assert pref["metadata"] == {"source": "chat", "turn": 3}
    deploy = json_of(
        await call(
            session,
            "memtrace_remember",
            agent_id=agent_id,
            content="Deployed version 2.3 to staging",
            event_type="deploy",
        )
    )

    # recall: newest first, both memories, nothing else
    recalled = json_of(await call(session, "memtrace_recall", agent_id=agent_id, since="1h"))
    assert [m["id"] for m in recalled["memories"]] == [deploy["id"], pref["id"]]
    assert (recalled["count"], recalled["has_more"]) == (2, False)

    # search: substring (case-insensitive), tags, and ranked by keywords
    found = json_of(await call(session, "memtrace_search", agent_id=agent_id, content_contains="DARK MODE"))
    assert [m["id"] for m in found["results"]] == [pref["id"]]
    assert isinstance(found["query_time_ms"], int)
    tagged = json_of(await call(session, "memtrace_search", agent_id=agent_id, tags=["ui"]))
    assert [m["id"] for m in tagged["results"]] == [pref["id"]]
    ranked = json_of(
        await call(session, "memtrace_search", agent_id=agent_id, query="staging deploy version")
    )
    assert ranked["results"][0]["id"] == deploy["id"]
    assert ranked["results"][0]["score"] > 0

    # a session, memories in it, and its context as markdown
    sess = json_of(
        await call(session, "memtrace_session_create", agent_id=agent_id, metadata={"goal": "review PR 42"})
    )
    session_id = sess["id"]
    assert (sess["agent_id"], sess["status"], sess["metadata"]) == (
        agent_id,
        "active",
        {"goal": "review PR 42"},
    )
    finding = json_of(
        await call(
            session,
            "memtrace_remember",
            agent_id=agent_id,
            session_id=session_id,
            content="Found SQL injection in auth.go:45",
            event_type="finding",
        )
    )
    assert finding["session_id"] == session_id
    json_of(
        await call(
            session,
            "memtrace_remember",
            agent_id=agent_id,
            session_id=session_id,
            content="Flag the PR as critical",
            memory_type="decision",
            event_type="decision",
            metadata={"reasoning": "SQL injection is OWASP top 10"},
        )
    )
    context = text_of(await call(session, "memtrace_session_context", session_id=session_id))
    assert context.startswith(f"## Session Context ({session_id})")
    assert "### Recent Actions (1)" in context and "finding: Found SQL injection in auth.go:45" in context
    assert "### Decisions Made (1)" in context and "Flag the PR as critical" in context
    assert "dark mode" not in context  # memories outside the session stay out
    only_decisions = text_of(
        await call(session, "memtrace_session_context", session_id=session_id, include_types=["decision"])
    )
    assert "Flag the PR as critical" in only_decisions and "SQL injection in auth" not in only_decisions
    in_session = json_of(await call(session, "memtrace_recall", agent_id=agent_id, session_id=session_id))
    assert in_session["count"] == 2

    # decide: a decision memory with its reasoning
    decision = json_of(
        await call(
            session,
            "memtrace_decide",
            agent_id=agent_id,
            decision="Use PostgreSQL for the HA deployment",
            reasoning="Arc has no replicas yet",
        )
    )
    assert (decision["memory_type"], decision["event_type"]) == ("decision", "decision")
    assert decision["metadata"] == {"reasoning": "Arc has no replicas yet"}
    decisions = json_of(await call(session, "memtrace_recall", agent_id=agent_id, memory_type="decision"))
    assert decision["id"] in [m["id"] for m in decisions["memories"]]

    # get_memory returns what remember returned; forget removes it for good
    assert json_of(await call(session, "memtrace_get_memory", memory_id=pref["id"])) == pref
    forgotten = json_of(await call(session, "memtrace_forget", memory_id=pref["id"]))
    assert forgotten == {"deleted": True, "id": pref["id"]}
    assert "not found" in error_of(await call(session, "memtrace_get_memory", memory_id=pref["id"]))
    after = json_of(await call(session, "memtrace_recall", agent_id=agent_id))
    assert pref["id"] not in [m["id"] for m in after["memories"]]

    # agent_register
    agent = json_of(
        await call(session, "memtrace_agent_register", name=agent_id, description="Reviews pull requests")
    )
    assert (agent["name"], agent["description"]) == (agent_id, "Reviews pull requests")

    # facts that change: a keyed remember replaces the key's value; recall_facts shows only the current one
    key = f"user:{agent_id}/city"
    await call(session, "memtrace_remember", agent_id=agent_id, content="Lives in Paris", key=key)
    berlin = json_of(
        await call(session, "memtrace_remember", agent_id=agent_id, content="Lives in Berlin", key=key)
    )
    assert berlin["key"] == key
    current = json_of(
        await call(session, "memtrace_recall_facts", agent_id=agent_id, prefix=f"user:{agent_id}/")
    )
    assert [m["content"] for m in current["memories"]] == ["Lives in Berlin"]
    return RoundTrip(agent_id, session_id, deploy["id"])


async def exercise_bad_calls(session: ClientSession, agent_id: str) -> None:
    """Each bad call is a tool error whose message names the problem, and the next good call works."""
    missing_id = "mem_" + "0" * 26
    bad_calls: list[tuple[str, dict[str, Any], str]] = [
        ("memtrace_remember", {"agent_id": agent_id}, "content is required"),
        ("memtrace_remember", {"agent_id": "1-starts-with-digit", "content": "x"}, "agent_id"),
        (
            "memtrace_remember",
            {"agent_id": agent_id, "content": "x", "memory_type": "opinion"},
            "memory_type",
        ),
        ("memtrace_remember", {"agent_id": agent_id, "content": "x", "tags": ["has space"]}, "tags[0]"),
        ("memtrace_remember", {"agent_id": agent_id, "content": "x", "importance": 7}, "importance"),
        ("memtrace_remember", {"agent_id": agent_id, "content": "x", "tags": "not-a-list"}, "tags"),
        ("memtrace_remember", {"agent_id": agent_id, "content": "x", "key": "not a key"}, "key"),
        ("memtrace_recall", {"agent_id": agent_id, "limit": 5000}, "limit"),
        ("memtrace_recall", {"agent_id": agent_id, "since": "yesterday-ish"}, "since"),
        ("memtrace_recall", {"agent_id": agent_id, "query": "dark"}, "unknown argument 'query'"),
        ("memtrace_decide", {"agent_id": agent_id, "decision": "d"}, "reasoning is required"),
        ("memtrace_get_memory", {"memory_id": "not-an-id"}, "memory_id"),
        ("memtrace_get_memory", {"memory_id": missing_id}, "memory not found"),
        ("memtrace_forget", {"memory_id": missing_id}, "memory not found"),
        ("memtrace_session_context", {"session_id": "sess_does_not_exist"}, "session not found"),
        ("memtrace_session_context", {"session_id": "x", "max_tokens": 0}, "max_tokens"),
        ("memtrace_no_such_tool", {}, "Unknown tool"),
    ]
    for tool, arguments, expected in bad_calls:
        message = error_of(await session.call_tool(tool, arguments))
        assert expected in message, f"{tool}({arguments}): {message!r} does not mention {expected!r}"
        assert "Traceback" not in message and "errors.pydantic.dev" not in message, message
        # the server is still serving
        ok = json_of(await call(session, "memtrace_recall", agent_id=agent_id))
        assert ok["has_more"] is False

    # a duplicate is refused, and the message says why
    first = await call(session, "memtrace_remember", agent_id=agent_id, content="Said hello")
    text_of(first)
    duplicate = error_of(await call(session, "memtrace_remember", agent_id=agent_id, content="Said hello"))
    assert "duplicate" in duplicate and "nothing new was written" in duplicate
    assert json_of(await call(session, "memtrace_recall", agent_id=agent_id))["count"] == 1
