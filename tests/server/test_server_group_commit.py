"""Group commit: concurrent single writes share one engine call, yet every request gets the answer it would
have got alone (its own memory, its own 409 or 400), in order, and nothing is lost or written twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from memtrace import AddMemoryRequest, ConflictError, ListOptions, ValidationError
from memtrace_server.app import create_app
from memtrace_server.config import load_config
from memtrace_server.keys import bootstrap
from memtrace_server.state import ServerState, open_state


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[ServerState]:
    state = open_state(load_config(None, env={}, search=False, overrides={"server.data_dir": str(tmp_path)}))
    yield state
    state.close()


def group_stats(state: ServerState) -> tuple[float, float]:
    """(engine calls, single writes they stored) so far."""
    count = sum_ = 0.0
    for metric in state.metrics.group_size.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                sum_ = sample.value
    return count, sum_


async def test_concurrent_writes_share_one_call_and_each_gets_its_memory(state: ServerState) -> None:
    assert state.coalescer is not None
    reqs = [AddMemoryRequest(agent_id="a1", content=f"step {i}", tags=[f"t{i}"]) for i in range(40)]
    memories = await asyncio.gather(*(state.coalescer.add("org_default", r) for r in reqs))
    assert [m.content for m in memories] == [r.content for r in reqs]
    assert [m.tags for m in memories] == [r.tags for r in reqs]
    assert group_stats(state) == (1, 40)
    stored = state.engine.list_memories("org_default", ListOptions(agent_id="a1", order="asc", limit=100))
    assert [m.id for m in stored.memories] == [m.id for m in memories]  # arrival order is time order


async def test_duplicates_in_a_group_get_409_and_the_rest_their_memories(state: ServerState) -> None:
    assert state.coalescer is not None
    await state.coalescer.add("org_default", AddMemoryRequest(agent_id="a1", content="stored before"))
    reqs = [
        AddMemoryRequest(agent_id="a1", content="stored before"),  # duplicate of a stored memory
        AddMemoryRequest(agent_id="a1", content="new"),
        AddMemoryRequest(agent_id="a1", content="new"),  # duplicate within the group
        AddMemoryRequest(
            agent_id="a1", content="stored before", dedup_key="explicit-1"
        ),  # own key: not a dup
        AddMemoryRequest(agent_id="a2", content="new"),  # another agent: another key
        AddMemoryRequest(agent_id="a1", content="explicit again", dedup_key="explicit-1"),  # dup by key
        AddMemoryRequest(agent_id="a1", content="last"),
    ]
    results = await asyncio.gather(
        *(state.coalescer.add("org_default", r) for r in reqs), return_exceptions=True
    )
    outcome = [type(r).__name__ if isinstance(r, BaseException) else (r.agent_id, r.content) for r in results]
    assert outcome == [
        "ConflictError",
        ("a1", "new"),
        "ConflictError",
        ("a1", "stored before"),
        ("a2", "new"),
        "ConflictError",
        ("a1", "last"),
    ]
    assert results[3].dedup_key == "explicit-1"  # type: ignore[union-attr]
    assert isinstance(results[0], ConflictError) and results[0].message == "duplicate memory"
    assert state.engine.list_memories("org_default", ListOptions(limit=100)).count == 5


async def test_an_invalid_write_fails_alone_with_the_single_write_error(state: ServerState) -> None:
    assert state.coalescer is not None
    reqs = [
        AddMemoryRequest(agent_id="a1", content="fine 1"),
        AddMemoryRequest(agent_id="9bad", content="bad agent"),
        AddMemoryRequest(agent_id="a1", content="fine 2", tags=["ok", "not ok"]),
        AddMemoryRequest(agent_id="a1", content="fine 3"),
    ]
    results = await asyncio.gather(
        *(state.coalescer.add("org_default", r) for r in reqs), return_exceptions=True
    )
    assert [getattr(r, "content", None) for r in results] == ["fine 1", None, None, "fine 3"]
    assert isinstance(results[1], ValidationError) and results[1].field == "agent_id"
    assert results[1].message.startswith("invalid agent_id:")
    assert isinstance(results[2], ValidationError) and results[2].field == "tags[1]"
    with pytest.raises(ValidationError) as alone:
        state.engine.add_memory("org_default", reqs[1])
    assert (alone.value.message, alone.value.field) == (results[1].message, results[1].field)
    assert state.engine.list_memories("org_default", ListOptions(limit=100)).count == 2


async def test_groups_are_per_organisation(state: ServerState) -> None:
    assert state.coalescer is not None
    state.keys.metadata.create_org("org_b", "B", 0)
    reqs = [
        ("org_default" if i % 2 else "org_b", AddMemoryRequest(agent_id="a1", content=f"m{i}"))
        for i in range(10)
    ]
    memories = await asyncio.gather(*(state.coalescer.add(org, r) for org, r in reqs))
    assert [m.org_id for m in memories] == [org for org, _ in reqs]
    assert state.engine.list_memories("org_b", ListOptions(limit=100)).count == 5


async def test_over_http_many_concurrent_writes(state: ServerState) -> None:
    key = "mtk_" + "C" * 43 + "="
    bootstrap(state.keys, key)
    app = create_app(state, close_state=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://memtrace", headers={"x-api-key": key}
    ) as c:
        bodies = [{"agent_id": "h1", "content": f"c{i % 50}"} for i in range(100)]  # each content twice
        bodies.append({"agent_id": "h1", "content": ""})
        responses = await asyncio.gather(*(c.post("/api/v1/memories", json=b) for b in bodies))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 50 and codes.count(409) == 50 and codes[-1] == 400
    assert responses[-1].json() == {"error": "content is required", "field": "content"}
    created = {r.json()["content"]: r.json()["id"] for r in responses if r.status_code == 201}
    assert sorted(created) == sorted(f"c{i}" for i in range(50))
    stored = state.engine.list_memories("org_default", ListOptions(agent_id="h1", limit=1000))
    assert {m.content: m.id for m in stored.memories} == created


async def test_facts_in_a_group_supersede_in_order_and_a_bad_supersedes_fails_alone(
    state: ServerState,
) -> None:
    assert state.coalescer is not None
    missing = "mem_" + "0" * 26
    reqs = [
        AddMemoryRequest(agent_id="a1", content="Paris", key="user:ada/city"),
        AddMemoryRequest(agent_id="a1", content="unrelated"),
        AddMemoryRequest(agent_id="a1", content="taken over", supersedes=[missing]),
        AddMemoryRequest(agent_id="a1", content="Berlin", key="user:ada/city"),
        AddMemoryRequest(agent_id="a1", content="Berlin", key="user:ada/city"),  # same value: duplicate
    ]
    results = await asyncio.gather(
        *(state.coalescer.add("org_default", r) for r in reqs), return_exceptions=True
    )
    outcome = [type(r).__name__ if isinstance(r, BaseException) else r.content for r in results]
    assert outcome == ["Paris", "unrelated", "NotFoundError", "Berlin", "ConflictError"]
    assert state.engine.get_fact("org_default", "user:ada/city").content == "Berlin"
    history = state.engine.fact_history("org_default", "user:ada/city").memories
    assert [m.content for m in history] == ["Paris", "Berlin"]
