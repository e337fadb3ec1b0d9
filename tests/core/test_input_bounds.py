"""Hostile input gets a `ValidationError` naming the field, from the embedded client and (as a 400 with
``field``) from a live server: too many filter tags or types, oversized or deeply nested metadata, lone surrogates.
Nothing is written by a refused call, and the embedded client raises only `MemtraceError` subclasses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from memtrace import (
    AddMemoryRequest,
    CreateSessionRequest,
    InputLimits,
    ListOptions,
    Memtrace,
    MemtraceError,
    RegisterAgentRequest,
    SearchQuery,
    ValidationError,
)
from memtrace.limits import MAX_METADATA_BYTES, MAX_METADATA_DEPTH


def _uid() -> str:
    return "t" + uuid.uuid4().hex[:12]


def _nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return root


def _refused(call: Callable[[], object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        call()
    assert err.value.field == field, err.value


def test_filters_with_too_many_tags_or_types_are_refused(open_memtrace: Callable[[], Memtrace]) -> None:
    mt = open_memtrace()
    agent = _uid()
    many_tags = [f"t{i}" for i in range(1000)]
    _refused(lambda: mt.list_memories(ListOptions(agent_id=agent, tags=many_tags)), "tags")
    _refused(lambda: mt.list_memories(ListOptions(agent_id=agent, tags=",".join(many_tags))), "tags")
    _refused(lambda: mt.search_memories(SearchQuery(agent_id=agent, query="x", tags=many_tags)), "tags")
    _refused(lambda: mt.delete_memories(agent_id=agent, tags=many_tags), "tags")
    _refused(
        lambda: mt.search_memories(SearchQuery(agent_id=agent, event_types=["e"] * 200_000)), "event_types"
    )
    _refused(
        lambda: mt.search_memories(SearchQuery(agent_id=agent, memory_types=["episodic"] * 200_000)),
        "memory_types",
    )
    # At the bound, it works.
    assert mt.list_memories(ListOptions(agent_id=agent, tags=many_tags[:64])).count == 0


def test_metadata_is_bounded_in_size_and_depth(open_memtrace: Callable[[], Memtrace]) -> None:
    mt = open_memtrace()
    agent = _uid()
    big = {"blob": "x" * (MAX_METADATA_BYTES + 1)}
    _refused(lambda: mt.add_memory(AddMemoryRequest(agent_id=agent, content="c", metadata=big)), "metadata")
    _refused(
        lambda: mt.add_memories([AddMemoryRequest(agent_id=agent, content="c", metadata=_nested(40))]),
        "memories[0].metadata",
    )
    with pytest.raises(ValidationError):  # too deep for JSON itself: the remote client cannot even send it
        mt.add_memories([AddMemoryRequest(agent_id=agent, content="c", metadata=_nested(5000))])
    _refused(
        lambda: mt.add_memory(
            AddMemoryRequest(agent_id=agent, content="c", metadata=_nested(MAX_METADATA_DEPTH + 1))
        ),
        "metadata",
    )
    _refused(
        lambda: mt.create_session(CreateSessionRequest(agent_id=agent, metadata=_nested(40))), "metadata"
    )
    _refused(lambda: mt.register_agent(RegisterAgentRequest(name=_uid(), config=big)), "config")
    assert mt.list_memories(ListOptions(agent_id=agent)).count == 0
    ok = mt.add_memory(AddMemoryRequest(agent_id=agent, content="c", metadata=_nested(MAX_METADATA_DEPTH)))
    assert ok.metadata == _nested(MAX_METADATA_DEPTH)
    # Brackets inside strings are not nesting (the depth walk is skipped only when JSON has few brackets).
    braces = {"code": "{[" * 100, "list": [["{"]]}
    assert mt.add_memory(AddMemoryRequest(agent_id=agent, content="d", metadata=braces)).metadata == braces


def test_lone_surrogates_are_refused_naming_the_field(tmp_path: Path) -> None:
    bad = "bad \ud800 text"
    with Memtrace.open(tmp_path / "data") as mt:
        agent = _uid()
        _refused(lambda: mt.add_memory(AddMemoryRequest(agent_id=agent, content=bad)), "content")
        _refused(
            lambda: mt.add_memory(AddMemoryRequest(agent_id=agent, content="c", metadata={bad: 1})),
            "metadata",
        )
        _refused(
            lambda: mt.add_memory(AddMemoryRequest(agent_id=agent, content="c", dedup_key=bad)), "dedup_key"
        )
        _refused(
            lambda: mt.add_memory(AddMemoryRequest(agent_id=agent, content="c", parent_id=bad)), "parent_id"
        )
        _refused(lambda: mt.search_memories(SearchQuery(query=bad)), "query")
        _refused(lambda: mt.search_memories(SearchQuery(query="x", content_contains=bad)), "content_contains")
        _refused(lambda: mt.register_agent(RegisterAgentRequest(name=bad)), "name")
        _refused(lambda: mt.get_agent(bad), "agent_id")
        assert mt.list_memories(ListOptions(agent_id=agent)).count == 0


def test_the_embedded_client_raises_only_memtrace_errors_for_hostile_input(tmp_path: Path) -> None:
    hostile: list[Callable[[Memtrace], object]] = [
        lambda mt: mt.add_memory(AddMemoryRequest(agent_id="a", content="c", metadata=_nested(100_000))),
        lambda mt: mt.add_memory(AddMemoryRequest(agent_id="a", content="c", metadata={"k": "\udfff"})),
        lambda mt: mt.update_session("s1", metadata={"k": [[[[[]]]]] * 10, "d": _nested(50)}),
        lambda mt: mt.delete_agent("\ud800"),
        lambda mt: mt.list_memories(ListOptions(tags=["a"] * 5000)),
    ]
    with Memtrace.open(tmp_path / "data") as mt:
        mt.create_session(CreateSessionRequest(agent_id="a", id="s1"))
        for call in hostile:
            with pytest.raises(MemtraceError):
                call(mt)


def test_limits_are_configurable(tmp_path: Path) -> None:
    limits = InputLimits(max_filter_tags=2, max_metadata_bytes=100_000_000, max_metadata_depth=200)
    with Memtrace.open(tmp_path / "data", limits=limits) as mt:
        _refused(lambda: mt.list_memories(ListOptions(tags=["a", "b", "c"])), "tags")
        deep = mt.add_memory(AddMemoryRequest(agent_id="a", content="c", metadata=_nested(150)))
        assert deep.metadata == _nested(150)


def test_rest_bounds_answer_400_naming_the_field(live_server) -> None:
    agent = _uid()
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": live_server.api_key}) as http:
        cases = [
            (http.get("/api/v1/memories", params={"agent_id": agent, "tags": ",".join(f"t{i}" for i in range(999))}), "tags"),
            (http.post("/api/v1/search", json={"query": "x", "tags": [f"t{i}" for i in range(999)]}), "tags"),
            (http.post("/api/v1/search", json={"event_types": ["e"] * 100_000}), "event_types"),
            (http.post("/api/v1/memories", json={"agent_id": agent, "content": "c", "metadata": {"b": "x" * (MAX_METADATA_BYTES + 10)}}), "metadata"),
        ]  # fmt: skip
        for response, field in cases:
            assert response.status_code == 400, (field, response.status_code, response.text[:200])
            assert response.json().get("field") == field, response.text[:200]
        # A lone surrogate escaped in JSON is refused as malformed JSON by the server's parser.
        surrogate = http.post("/api/v1/memories", content=b'{"agent_id": "%s", "content": "c\\ud800"}' % agent.encode(),
                              headers={"content-type": "application/json"})  # fmt: skip
        assert surrogate.status_code == 400
        assert http.get("/api/v1/memories", params={"agent_id": agent}).json()["count"] == 0
