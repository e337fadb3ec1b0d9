"""`ClientBridge`: one client of either kind, run from sync code and from async code.

Every combination adapters meet is here, on real clients (embedded and against a live server): a sync client
from async code, an async client from sync code (also from inside a running event loop, and across
`asyncio.run` calls), and plans that catch an operation's error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    ClientBridge,
    ConflictError,
    ListOptions,
    Memory,
    Memtrace,
)
from memtrace.bridge import Plan, Together, check_client, concurrently
from memtrace.operations import AddMemory, ListMemories, remember
from memtrace.paging import read_memories

AnyFactory = Callable[[], Memtrace | AsyncMemtrace]


@pytest.fixture(params=["sync-embedded", "sync-remote", "async-embedded", "async-remote"])
def make_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyFactory]:
    kind, where = request.param.split("-")
    opened: list[Memtrace | AsyncMemtrace] = []

    def make() -> Memtrace | AsyncMemtrace:
        cls = Memtrace if kind == "sync" else AsyncMemtrace
        if where == "embedded":
            client: Memtrace | AsyncMemtrace = cls.open(tmp_path / "data")
        else:
            server = request.getfixturevalue("live_server")
            client = cls(server.base_url, server.api_key)
        opened.append(client)
        return client

    yield make
    for client in opened:
        ClientBridge(client).close()


def _uid() -> str:
    return "t" + uuid.uuid4().hex[:12]


def remember_once(agent_id: str, content: str) -> Plan[Memory | None]:
    """A plan: store a memory, or None when it is a duplicate."""
    try:
        memory: Memory = yield remember(agent_id, content)
    except ConflictError:
        return None
    return memory


def test_from_sync_code(make_client: AnyFactory) -> None:
    bridge, uid = ClientBridge(make_client()), _uid()
    memory = bridge.execute(AddMemory(AddMemoryRequest(agent_id=uid, content="one")))
    assert bridge.run(remember_once(uid, "one")) is None  # the ConflictError reached the plan
    assert bridge.run(remember_once(uid, "two")) is not None
    listed = bridge.execute(ListMemories(ListOptions(agent_id=uid, order="asc")))
    assert listed.memories[0].id == memory.id and listed.count == 2


def test_from_sync_code_across_event_loops(make_client: AnyFactory) -> None:
    """Sync calls between and inside `asyncio.run` calls (a sync framework API called from async code)."""
    bridge, uid = ClientBridge(make_client()), _uid()

    async def inside_a_running_loop(content: str) -> Memory | None:
        return bridge.run(remember_once(uid, content))

    assert asyncio.run(inside_a_running_loop("a")) is not None
    assert bridge.run(remember_once(uid, "b")) is not None
    assert asyncio.run(inside_a_running_loop("c")) is not None
    assert [m.content for m in bridge.run(read_memories(ListOptions(agent_id=uid, order="asc")))] == [
        "a",
        "b",
        "c",
    ]


async def test_from_async_code(make_client: AnyFactory) -> None:
    bridge, uid = ClientBridge(make_client()), _uid()
    written = await asyncio.gather(*(bridge.arun(remember_once(uid, f"m{i % 5}")) for i in range(10)))
    assert sum(m is not None for m in written) == 5  # each content once; duplicates came back as None
    pages = await bridge.arun(read_memories(ListOptions(agent_id=uid), page_size=2))
    assert sorted(m.content for m in pages) == [f"m{i}" for i in range(5)]
    one = await bridge.aexecute(ListMemories(ListOptions(agent_id=uid, limit=1)))
    assert one.count == 1 and one.has_more


def test_rejects_other_clients() -> None:
    with pytest.raises(TypeError, match=r"MyStore: client must be a memtrace\.Memtrace"):
        check_client(object(), "MyStore")
    with pytest.raises(TypeError):
        ClientBridge("http://localhost:9100")  # type: ignore[arg-type]


async def test_many_independent_operations(make_client: AnyFactory) -> None:
    bridge, uid = ClientBridge(make_client()), _uid()
    writes = [AddMemory(AddMemoryRequest(agent_id=uid, content=f"m{i}")) for i in range(50)]
    written = await bridge.aexecute_all(writes)
    assert sorted(m.content for m in written) == sorted(f"m{i}" for i in range(50))
    reads = await asyncio.to_thread(
        bridge.execute_all, [ListMemories(ListOptions(agent_id=uid, limit=n)) for n in (1, 5, 50)]
    )
    assert [page.count for page in reads] == [1, 5, 50]  # in the order given
    with pytest.raises(ConflictError):
        await bridge.aexecute_all(writes[:1])


def lookups(uid: str, limits: list[int]) -> Plan[list[int]]:
    """A plan that needs several independent reads: it hands them over together."""
    pages = yield Together([ListMemories(ListOptions(agent_id=uid, limit=n)) for n in limits])
    return [page.count for page in pages]


async def test_a_plan_hands_over_independent_operations_together(make_client: AnyFactory) -> None:
    bridge, uid = ClientBridge(make_client()), _uid()
    await bridge.aexecute_all([AddMemory(AddMemoryRequest(agent_id=uid, content=f"m{i}")) for i in range(5)])
    assert await bridge.arun(lookups(uid, [1, 3, 5])) == [1, 3, 5]  # results in the order given
    assert await asyncio.to_thread(bridge.run, lookups(uid, [2, 4])) == [2, 4]
    failing = Together([AddMemory(AddMemoryRequest(agent_id=uid, content="m0"))])

    def caught() -> Plan[str]:
        try:
            yield failing
        except ConflictError:
            return "the first error was thrown into the plan"
        return "no error"

    assert await bridge.arun(caught()) == "the first error was thrown into the plan"


def test_concurrently_steps_independent_plans_in_rounds_of_one_together() -> None:
    """Two paging plans (two steps and one) as one plan: each round hands every unfinished plan's next
    operation over at once, so a remote async client waits one round trip per round, not per operation."""
    first, second, third = (ListMemories(ListOptions(agent_id=a)) for a in ("a", "b", "c"))

    def two_steps() -> Plan[tuple[object, object]]:
        one = yield first
        two = yield Together([third])
        return (one, two)

    def one_step() -> Plan[object]:
        return (yield second)

    combined = concurrently([two_steps(), one_step()])
    round_one = next(combined)
    assert isinstance(round_one, Together) and list(round_one.ops) == [first, second]
    round_two = combined.send(["A", "B"])
    assert isinstance(round_two, Together) and list(round_two.ops) == [third]
    with pytest.raises(StopIteration) as done:
        combined.send(["C"])
    assert done.value.value == [("A", ["C"]), "B"]


def test_concurrently_gives_the_same_answers_as_running_the_plans_in_turn(tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "data") as mt:
        for agent in ("a", "b"):
            mt.add_memories([AddMemoryRequest(agent_id=agent, content=f"{agent} {i}") for i in range(3)])
        bridge = ClientBridge(mt)
        # pages of 2: each plan takes two rounds
        plans = [read_memories(ListOptions(agent_id=a, order="asc"), page_size=2) for a in "ab"]
        together = bridge.run(concurrently(plans))
        in_turn = [bridge.run(read_memories(ListOptions(agent_id=a, order="asc"), page_size=2)) for a in "ab"]
        assert [[m.content for m in r] for r in together] == [[m.content for m in r] for r in in_turn]
        assert [m.content for m in together[0]] == ["a 0", "a 1", "a 2"]
