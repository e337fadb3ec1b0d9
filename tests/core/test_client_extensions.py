"""Core pieces the adapters share: `iter_memories`, `create_session(exist_ok=True)`, `check_id`, `execute(op)`.

Each runs embedded and against a live server, since the two backends implement them separately (engine vs.
request plan)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable

import pytest

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    ConflictError,
    CreateSessionRequest,
    ListOptions,
    Memtrace,
    ValidationError,
    check_id,
)
from memtrace.operations import AddMemory, GetSession, ListMemories


def _uid() -> str:
    return "t" + uuid.uuid4().hex[:12]


def test_iter_memories_follows_has_more(open_memtrace: Callable[[], Memtrace]) -> None:
    mt, uid = open_memtrace(), _uid()
    mt.add_memories([AddMemoryRequest(agent_id=uid, content=f"m{i}") for i in range(23)])
    got = [m.content for m in mt.iter_memories(ListOptions(agent_id=uid, order="asc"), page_size=5)]
    assert got == [f"m{i}" for i in range(23)]
    # offset and limit bound the whole walk, not one page
    window = mt.iter_memories(ListOptions(agent_id=uid, order="asc", offset=4, limit=12), page_size=5)
    assert [m.content for m in window] == [f"m{i}" for i in range(4, 16)]
    with pytest.raises(ValidationError) as err:
        list(mt.iter_memories(page_size=0))
    assert err.value.field == "page_size"


async def test_async_iter_memories(open_async_memtrace: Callable[[], AsyncMemtrace]) -> None:
    mt, uid = open_async_memtrace(), _uid()
    await mt.add_memories([AddMemoryRequest(agent_id=uid, content=f"m{i}") for i in range(7)])
    got = [m.content async for m in mt.iter_memories(ListOptions(agent_id=uid, order="desc"), page_size=3)]
    assert got == [f"m{i}" for i in reversed(range(7))]


def test_create_session_exist_ok(open_memtrace: Callable[[], Memtrace]) -> None:
    mt, uid = open_memtrace(), _uid()
    first = mt.create_session(CreateSessionRequest(id=f"{uid}_s", agent_id=uid, metadata={"n": 1}))
    with pytest.raises(ConflictError):
        mt.create_session(CreateSessionRequest(id=f"{uid}_s", agent_id=uid))
    again = mt.create_session(
        CreateSessionRequest(id=f"{uid}_s", agent_id=uid, metadata={"n": 2}), exist_ok=True
    )
    assert again.model_dump() == first.model_dump()  # the stored row, unchanged
    fresh = mt.create_session(CreateSessionRequest(id=f"{uid}_new", agent_id=uid), exist_ok=True)
    assert fresh.id == f"{uid}_new" and mt.get_session(fresh.id).agent_id == uid
    with pytest.raises(ValidationError):
        mt.create_session(CreateSessionRequest(id="9bad", agent_id=uid), exist_ok=True)


def test_create_session_exist_ok_races(open_memtrace: Callable[[], Memtrace]) -> None:
    """Eight threads, each with its own client, create the same session: all get the one row."""
    uid = _uid()
    clients = [open_memtrace() for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    results: list[str] = []

    def create(mt: Memtrace) -> None:
        barrier.wait()
        session = mt.create_session(CreateSessionRequest(id=f"{uid}_s", agent_id=uid), exist_ok=True)
        results.append(session.created_at.isoformat())

    threads = [threading.Thread(target=create, args=(mt,)) for mt in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1


async def test_async_create_session_exist_ok(open_async_memtrace: Callable[[], AsyncMemtrace]) -> None:
    mt, uid = open_async_memtrace(), _uid()
    made = await asyncio.gather(
        *(
            mt.create_session(CreateSessionRequest(id=f"{uid}_s", agent_id=uid), exist_ok=True)
            for _ in range(5)
        )
    )
    assert len({s.created_at for s in made}) == 1


def test_execute_runs_an_operation(open_memtrace: Callable[[], Memtrace]) -> None:
    mt, uid = open_memtrace(), _uid()
    memory = mt.execute(AddMemory(AddMemoryRequest(agent_id=uid, content="as data")))
    listed = mt.execute(ListMemories(ListOptions(agent_id=uid)))
    assert [m.id for m in listed.memories] == [memory.id]
    with pytest.raises(ValidationError) as err:
        mt.execute(GetSession("9bad"))
    assert err.value.field == "session_id"


def test_check_id() -> None:
    assert check_id("agent-1_x", "agent_id") == "agent-1_x"
    for bad in ("", "1abc", "a b", "a" * 129, "a\n", None, 3):
        with pytest.raises(ValidationError) as err:
            check_id(bad, "agent_id")
        assert err.value.field == "agent_id"
    assert check_id("", "session_id", required=False) is None
