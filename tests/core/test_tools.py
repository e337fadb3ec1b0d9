"""The memory tools defined once in core (`memtrace.tools`), as frameworks render and call them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from memtrace import AsyncMemtrace, ClientBridge, ConflictError, Memtrace, NotFoundError, ValidationError
from memtrace.tools import FORGET, MEMORY_TOOLS, RECALL, REMEMBER, SEARCH, SESSION_CONTEXT, ToolScope


def _uid() -> str:
    return "t" + uuid.uuid4().hex[:12]


def test_every_tool_renders_a_valid_schema_signature_and_model() -> None:
    for name, tool in MEMORY_TOOLS.items():
        assert name == tool.name and name.startswith("memtrace_") and tool.description
        schema = tool.json_schema()
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        assert list(schema["properties"]) == [a.name for a in tool.args]
        assert set(schema.get("required", [])) == {a.name for a in tool.args if a.required}
        assert list(tool.signature().parameters) == [a.name for a in tool.args]
        assert all(p["description"] for p in schema["properties"].values())


def test_a_scope_binds_arguments() -> None:
    scope = ToolScope(agent_id="assistant", session_id="chat-1")
    assert "agent_id" not in REMEMBER.json_schema(scope)["properties"]
    assert "session_id" not in REMEMBER.json_schema(scope)["properties"]
    assert REMEMBER.json_schema(scope)["required"] == ["content"]
    assert "session_id" not in SESSION_CONTEXT.json_schema(scope)["properties"]
    overridable = REMEMBER.json_schema(ToolScope(agent_id="assistant", overridable=True))
    assert "agent_id" in overridable["properties"] and "agent_id" not in overridable["required"]
    assert REMEMBER.prepare({"content": "x"}, scope)["agent_id"] == "assistant"


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        RECALL.prepare({"agent_id": "a", "limit": 0})
    assert err.value.field == "limit"
    with pytest.raises(ValidationError) as err:
        REMEMBER.prepare({"content": "x", "colour": "red"}, ToolScope(agent_id="a"))
    assert err.value.field == "colour"
    with pytest.raises(ValidationError) as err:
        REMEMBER.prepare({"agent_id": "a"})
    assert err.value.field == "content"


def test_tools_run_on_a_sync_client(tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "data") as mt:
        bridge, uid = ClientBridge(mt), _uid()
        scope = ToolScope(agent_id=uid, session_id=f"{uid}_s")
        memory = REMEMBER.run(bridge, {"content": "User prefers dark mode", "tags": ["ui"]}, scope)
        assert memory.agent_id == uid and memory.session_id == f"{uid}_s" and memory.tags == ["ui"]
        with pytest.raises(ConflictError, match="nothing new was written"):
            REMEMBER.run(bridge, {"content": "User prefers dark mode"}, scope)
        found = SEARCH.run(bridge, {"query": "dark mode"}, scope)
        assert [m.id for m in found.results] == [memory.id]
        assert '"content": "User prefers dark mode"' in SEARCH.text(found)
        other = REMEMBER.run(bridge, {"agent_id": "someone_else", "content": "theirs"})
        with pytest.raises(NotFoundError):
            FORGET.run(bridge, {"memory_id": other.id}, scope)  # bound to one agent: not its memory
        assert FORGET.run(bridge, {"memory_id": memory.id}, scope) == {"deleted": True, "id": memory.id}
        assert RECALL.run(bridge, {}, scope).count == 0


async def test_tools_run_on_an_async_client(tmp_path: Path) -> None:
    async with AsyncMemtrace.open(tmp_path / "data") as mt:
        bridge, uid = ClientBridge(mt), _uid()
        await MEMORY_TOOLS["memtrace_decide"].arun(
            bridge, {"agent_id": uid, "decision": "Use SQLite", "reasoning": "embedded"}
        )
        recalled = await RECALL.arun(bridge, {"agent_id": uid})
        assert [(m.memory_type, m.metadata) for m in recalled.memories] == [
            ("decision", {"reasoning": "embedded"})
        ]
