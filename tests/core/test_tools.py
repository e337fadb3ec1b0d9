"""The memory tools defined once in core (`memtrace.tools`), as frameworks render and call them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from memtrace import AsyncMemtrace, ClientBridge, ConflictError, Memtrace, NotFoundError, ValidationError
from memtrace.bridge import map_operations
from memtrace.operations import AddMemory, Operation
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


def test_bounds_of_optional_arguments_are_json_schema_and_enforced() -> None:
    for tool, name in ((REMEMBER, "importance"), (SEARCH, "min_importance")):
        spec = tool.json_schema()["properties"][name]
        assert (spec["minimum"], spec["maximum"], spec["type"]) == (0, 1, "number")
        assert not {"ge", "le"} & set(spec)
        Draft202012Validator.check_schema(tool.json_schema())
    with pytest.raises(ValidationError) as err:
        REMEMBER.prepare({"agent_id": "a", "content": "x", "importance": 1.5})
    assert err.value.field == "importance"
    assert REMEMBER.prepare({"agent_id": "a", "content": "x", "importance": None})["importance"] is None


def test_adapt_changes_only_what_it_names() -> None:
    search = SEARCH.adapt(
        require=["query"], defaults={"limit": 5}, bounds={"limit": {"le": 100}}, describe={"limit": "At most"}
    )
    schema = search.json_schema(ToolScope(agent_id="a"))
    assert schema["required"] == ["query"] and schema["properties"]["query"]["type"] == "string"
    assert schema["properties"]["limit"] == {
        "default": 5, "description": "At most", "maximum": 100, "minimum": 1, "title": "Limit", "type": "integer",
    }  # fmt: skip
    assert list(schema["properties"]) == [a.name for a in SEARCH.arguments(ToolScope(agent_id="a"))]
    assert (search.name, search.plan, search.description) == (SEARCH.name, SEARCH.plan, SEARCH.description)
    assert SEARCH.json_schema()["properties"]["limit"]["default"] == 50  # the core definition is unchanged

    quiet = REMEMBER.adapt(hide=["event_type"], defaults={"event_type": "note"})
    assert "event_type" not in quiet.json_schema()["properties"]
    assert quiet.prepare({"agent_id": "a", "content": "x"})["event_type"] == "note"
    with pytest.raises(KeyError, match="no argument 'colour'"):
        REMEMBER.adapt(defaults={"colour": "red"})
    with pytest.raises(ValueError, match="cannot be hidden"):
        REMEMBER.adapt(hide=["content"])


def test_map_operations_lets_an_adapter_add_to_a_core_plan(tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "data") as mt:
        uid = _uid()
        plan = REMEMBER.plan(
            REMEMBER.prepare({"content": "Tagged by the adapter"}, ToolScope(agent_id=uid)), ToolScope()
        )

        def tag(op: Operation[Any]) -> Operation[Any]:
            assert isinstance(op, AddMemory)
            return AddMemory(op.req.model_copy(update={"tags": ["adapter"]}))

        memory = ClientBridge(mt).run(map_operations(plan, tag))
        assert (memory.agent_id, memory.tags) == (uid, ["adapter"])
        again = REMEMBER.plan(
            REMEMBER.prepare({"content": "Tagged by the adapter"}, ToolScope(agent_id=uid)), ToolScope()
        )
        with pytest.raises(ConflictError):  # errors reach the plan, which words them as it does unmapped
            ClientBridge(mt).run(map_operations(again, tag))
