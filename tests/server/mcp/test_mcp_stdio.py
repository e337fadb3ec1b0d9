"""`memtrace mcp` over stdio, embedded store: spawned as a subprocess and driven by the official mcp client."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaValidationError
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from support.mcp_session import (
    CLI_COMMAND,
    MODULE_COMMAND,
    call,
    exercise_bad_calls,
    exercise_round_trip,
    json_of,
    server_env,
    stdio_session,
    text_of,
)

from memtrace import AddMemoryRequest, Memtrace

# Argument names and required arguments, as documented (spec §8 for the original seven, docs/mcp.md).
DOCUMENTED: dict[str, tuple[set[str], set[str]]] = {
    "memtrace_remember": (
        # ttl and key: memtrace's extensions (docs/mcp.md); the original's arguments are all there.
        {
            "agent_id",
            "content",
            "memory_type",
            "event_type",
            "session_id",
            "tags",
            "importance",
            "metadata",
            "ttl",
            "key",
        },
        {"agent_id", "content"},
    ),
    "memtrace_recall": ({"agent_id", "since", "session_id", "memory_type", "limit"}, {"agent_id"}),
    "memtrace_search": (
        {"agent_id", "content_contains", "memory_types", "tags", "since", "min_importance", "limit", "query"},
        set(),
    ),
    "memtrace_decide": ({"agent_id", "decision", "reasoning"}, {"agent_id", "decision", "reasoning"}),
    "memtrace_session_create": ({"agent_id", "metadata"}, {"agent_id"}),
    "memtrace_session_context": ({"session_id", "since", "include_types", "max_tokens"}, {"session_id"}),
    "memtrace_agent_register": ({"name", "description"}, {"name"}),
    "memtrace_get_memory": ({"memory_id"}, {"memory_id"}),
    "memtrace_forget": ({"memory_id"}, {"memory_id"}),
    "memtrace_forget_subject": ({"agent_id", "session_id", "tags", "since", "until"}, set()),
    "memtrace_recall_facts": ({"agent_id", "prefix", "limit"}, set()),
}

# The original server's tool descriptions (its docs/mcp.md); ours keep them word for word.
ORIGINAL_DESCRIPTIONS = {
    "memtrace_remember": "Store a memory. Use this to record actions, observations, events, or any "
    "information the agent should remember later.",
    "memtrace_recall": "Retrieve recent memories for an agent. Returns memories in reverse chronological order.",
    "memtrace_search": "Search memories with structured filters: by content text, memory types, tags, "
    "importance, and time range.",
    "memtrace_decide": "Log a decision with reasoning. Creates an auditable record of what was decided and why.",
    "memtrace_session_create": "Start a new session — a bounded context for a unit of work. Memories can be "
    "scoped to sessions.",
    "memtrace_session_context": "Get LLM-ready session context as formatted markdown. Returns all memories "
    "for a session grouped by type, ready to inject into a prompt.",
}

# One valid call per tool, used to check the schemas accept what the docs show.
VALID_ARGUMENTS: dict[str, dict[str, Any]] = {
    "memtrace_remember": {"agent_id": "a", "content": "c", "tags": ["t"], "importance": 0.5, "metadata": {}},
    "memtrace_recall": {"agent_id": "a", "since": "7d", "limit": 10},
    "memtrace_search": {"query": "dark mode", "memory_types": ["episodic", "decision"]},
    "memtrace_decide": {"agent_id": "a", "decision": "d", "reasoning": "r"},
    "memtrace_session_create": {"agent_id": "a", "metadata": {"goal": "g"}},
    "memtrace_session_context": {"session_id": "s", "include_types": ["decision"], "max_tokens": 500},
    "memtrace_agent_register": {"name": "code-reviewer", "description": "Reviews code"},
    "memtrace_get_memory": {"memory_id": "mem_" + "0" * 26},
    "memtrace_forget": {"memory_id": "mem_" + "0" * 26},
    "memtrace_forget_subject": {"agent_id": "a", "tags": ["t"], "since": "7d"},
    "memtrace_recall_facts": {"prefix": "user:ada/", "limit": 10},
}


async def test_lists_every_tool_with_a_valid_schema_and_the_documented_arguments(data_dir: Path) -> None:
    async with stdio_session(server_env(data_dir)) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}

    assert set(tools) == set(DOCUMENTED)
    for name, (properties, required) in DOCUMENTED.items():
        schema = tools[name].inputSchema
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
        assert set(schema["properties"]) == properties, name
        assert set(schema.get("required", [])) == required, name
        assert all(p.get("description") for p in schema["properties"].values()), name
        assert tools[name].description
        validator = Draft202012Validator(schema)
        validator.validate(VALID_ARGUMENTS[name])
        if required:  # leaving out a required argument, or adding an unknown one, breaks the schema
            with pytest.raises(SchemaValidationError):
                validator.validate({})
        with pytest.raises(SchemaValidationError):
            validator.validate({**VALID_ARGUMENTS[name], "no_such_argument": 1})

    for name, description in ORIGINAL_DESCRIPTIONS.items():
        assert (tools[name].description or "").startswith(description), name
    remember = tools["memtrace_remember"].inputSchema["properties"]
    assert (remember["tags"]["type"], remember["tags"]["items"]) == ("array", {"type": "string"})
    assert remember["memory_type"]["enum"] == ["episodic", "decision", "entity", "session"]
    assert remember["memory_type"]["default"] == "episodic"
    assert remember["importance"]["type"] == "number"
    assert remember["metadata"]["type"] == "object"
    assert tools["memtrace_recall"].inputSchema["properties"]["limit"]["type"] == "integer"
    recall, forget = tools["memtrace_recall"].annotations, tools["memtrace_forget"].annotations
    assert recall is not None and recall.readOnlyHint is True
    assert forget is not None and forget.destructiveHint is True


async def test_initialize_names_the_server_and_gives_the_original_instructions(data_dir: Path) -> None:
    params = StdioServerParameters(
        command=MODULE_COMMAND[0], args=MODULE_COMMAND[1:], env=server_env(data_dir)
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
    assert init.serverInfo.name == "memtrace"
    assert init.instructions is not None
    assert init.instructions.startswith("Memtrace provides persistent memory for AI agents.")


async def test_round_trip_over_stdio(data_dir: Path, unique: Callable[[str], str]) -> None:
    async with stdio_session(server_env(data_dir)) as session:
        trip = await exercise_round_trip(session, unique("reviewer"))

    # The server wrote to MEMTRACE_DATA_DIR: the same memories are there for any other client.
    with Memtrace.open(data_dir) as mt:
        stored = mt.get_memory(trip.remembered_id)
        assert stored.content == "Deployed version 2.3 to staging"
        assert mt.get_session_memories(trip.session_id).count == 2


async def test_bad_calls_are_tool_errors_and_the_server_keeps_serving(
    data_dir: Path, unique: Callable[[str], str]
) -> None:
    async with stdio_session(server_env(data_dir)) as session:
        await exercise_bad_calls(session, unique("agent"))


async def test_memories_outlive_the_server_process(data_dir: Path, unique: Callable[[str], str]) -> None:
    agent = unique("agent")
    async with stdio_session(server_env(data_dir)) as session:
        text_of(
            await call(session, "memtrace_remember", agent_id=agent, content="The deploy key rotates monthly")
        )
    async with stdio_session(server_env(data_dir)) as session:
        recalled = json_of(await call(session, "memtrace_recall", agent_id=agent, since="1h"))
    assert [m["content"] for m in recalled["memories"]] == ["The deploy key rotates monthly"]


async def test_session_context_defaults_to_the_whole_session(
    data_dir: Path, unique: Callable[[str], str]
) -> None:
    """The original documented "Default: all session memories" (its code used 24h); ours does what it says."""
    agent, session_id = unique("agent"), unique("sess")
    with Memtrace.open(data_dir) as mt:
        mt.add_memory(
            AddMemoryRequest(
                agent_id=agent,
                session_id=session_id,
                content="Kicked off the migration three days ago",
                time=datetime.now(UTC) - timedelta(days=3),
            )
        )
        mt.add_memory(AddMemoryRequest(agent_id=agent, session_id=session_id, content="Migration finished"))
    async with stdio_session(server_env(data_dir)) as session:
        whole = text_of(await call(session, "memtrace_session_context", session_id=session_id))
        recent = text_of(await call(session, "memtrace_session_context", session_id=session_id, since="1h"))
    assert "Kicked off the migration" in whole and "Migration finished" in whole
    assert "Kicked off the migration" not in recent and "Migration finished" in recent


def _rpc(method: str, params: dict[str, object] | None = None, id: int | None = None) -> str:
    message: dict[str, object] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if id is not None:
        message["id"] = id
    return json.dumps(message)


def test_stdout_carries_nothing_but_protocol_messages(data_dir: Path) -> None:
    """Every line on stdout is a JSON-RPC message, across good calls, bad calls and a server-side error;
    the startup line and logs go to stderr."""
    proc = subprocess.Popen(
        MODULE_COMMAND,
        env=server_env(data_dir),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin and proc.stdout
    requests = [
        _rpc("tools/list", {}, id=2),
        _rpc(
            "tools/call", {"name": "memtrace_remember", "arguments": {"agent_id": "a", "content": "x"}}, id=3
        ),
        _rpc(
            "tools/call", {"name": "memtrace_remember", "arguments": {"agent_id": "9", "content": "x"}}, id=4
        ),
        _rpc("tools/call", {"name": "memtrace_recall", "arguments": {"since": "forever"}}, id=5),
        _rpc(
            "tools/call", {"name": "memtrace_get_memory", "arguments": {"memory_id": "mem_" + "0" * 26}}, id=6
        ),
    ]
    lines: list[dict[str, Any]] = []  # JSON-RPC answers
    try:
        init: dict[str, object] = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        }
        proc.stdin.write(_rpc("initialize", init, id=1) + "\n")
        proc.stdin.flush()
        lines.append(json.loads(proc.stdout.readline()))
        proc.stdin.write(_rpc("notifications/initialized") + "\n")
        for request in requests:  # one at a time: each answer is read before the next request is sent
            proc.stdin.write(request + "\n")
            proc.stdin.flush()
            lines.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rest == ""
    assert proc.returncode == 0
    assert [m["id"] for m in lines] == [1, 2, 3, 4, 5, 6]
    assert all(m["jsonrpc"] == "2.0" and "result" in m for m in lines)
    results = {m["id"]: m["result"] for m in lines}
    assert results[3].get("isError") is not True
    assert all(results[i]["isError"] is True for i in (4, 5, 6))
    assert proc.stderr is not None and "memtrace mcp: stdio" in proc.stderr.read()


def test_half_configured_remote_mode_is_refused_with_a_clear_message(data_dir: Path) -> None:
    env = server_env(data_dir, url="http://127.0.0.1:9")
    done = subprocess.run(
        MODULE_COMMAND, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "MEMTRACE_URL is set but MEMTRACE_API_KEY is not" in done.stderr
    assert not data_dir.exists()  # nothing was written locally instead


async def test_memtrace_mcp_cli_serves_the_same_tools(data_dir: Path, unique: Callable[[str], str]) -> None:
    """`memtrace mcp` (the CLI) starts this server."""
    pytest.importorskip("memtrace_server.cli", reason="the memtrace CLI is not built yet")
    async with stdio_session(server_env(data_dir), command=CLI_COMMAND) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert names == set(DOCUMENTED)
        text_of(await call(session, "memtrace_remember", agent_id=unique("agent"), content="via the CLI"))


def test_help_runs_without_starting_a_server() -> None:
    done = subprocess.run([*MODULE_COMMAND, "--help"], capture_output=True, text=True, timeout=60, check=True)
    assert "--http" in done.stdout and "--port" in done.stdout
