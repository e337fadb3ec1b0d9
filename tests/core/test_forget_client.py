"""`forget` on the clients (sync and async, embedded and remote) and as the `memtrace_forget_subject` tool."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    ClientBridge,
    CreateSessionRequest,
    ForgetReceipt,
    Memtrace,
    NotFoundError,
    SearchQuery,
    ValidationError,
)
from memtrace.tools import FORGET_SUBJECT, REMEMBER, ToolScope


@pytest.fixture(params=["embedded", "remote"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memtrace]:
    if request.param == "embedded":
        mt = Memtrace.open(tmp_path / "data")
    else:
        server = request.getfixturevalue("live_server")
        mt = Memtrace(server.base_url, server.api_key)
    with mt:
        yield mt


@pytest.fixture
def uid() -> str:
    return "t" + uuid.uuid4().hex[:12]


def test_forget_an_agent_returns_the_receipt_and_nothing_is_left(client: Memtrace, uid: str) -> None:
    client.create_session(CreateSessionRequest(agent_id=uid, id=f"{uid}_s"))
    made = client.add_memories(
        [AddMemoryRequest(agent_id=uid, content=f"{uid} secret {i}", session_id=f"{uid}_s") for i in range(4)]
    )
    receipt = client.forget(agent_id=uid)
    assert isinstance(receipt, ForgetReceipt)
    assert receipt.removed == {"memories": 4, "sessions": 1, "agents": 0}
    assert receipt.subject == {"agent_id": uid} and receipt.finished_at >= receipt.started_at
    assert client.search_memories(SearchQuery(query=f"{uid} secret", agent_id=uid)).count == 0
    with pytest.raises(NotFoundError):
        client.get_memory(made[0].id)
    with pytest.raises(NotFoundError):
        client.get_session_context(f"{uid}_s")


def test_forget_by_tags_and_time(client: Memtrace, uid: str) -> None:
    client.add_memories(
        [
            AddMemoryRequest(agent_id=uid, content="a", tags=["pii"]),
            AddMemoryRequest(agent_id=uid, content="b", tags=["pii", "x"]),
            AddMemoryRequest(agent_id=uid, content="c"),
        ]
    )
    assert client.forget(agent_id=uid, tags="pii,x").removed["memories"] == 1
    assert client.forget(agent_id=uid, tags=["pii"], since="1h").removed["memories"] == 1
    assert [m.content for m in client.list_memories().memories if m.agent_id == uid] == ["c"]


def test_a_forget_naming_nothing_is_refused_with_the_field(client: Memtrace, uid: str) -> None:
    with pytest.raises(ValidationError) as exc:
        client.forget()
    assert exc.value.field == "filter"
    with pytest.raises(ValidationError) as exc:
        client.forget(agent_id=uid, memory_ids="mem_x")  # type: ignore[arg-type]
    assert exc.value.field == "memory_ids"


async def test_the_async_client_forgets(tmp_path: Path, uid: str) -> None:
    async with AsyncMemtrace.open(tmp_path / "data") as mt:
        await mt.remember(uid, "to be forgotten")
        receipt = await mt.forget(agent_id=uid)
    assert receipt.removed["memories"] == 1


def test_the_tool_forgets_only_within_its_scope(tmp_path: Path, uid: str) -> None:
    with Memtrace.open(tmp_path / "data") as mt:
        bridge = ClientBridge(mt)
        mine, theirs = ToolScope(agent_id=uid), ToolScope(agent_id=f"{uid}_other")
        for scope in (mine, theirs):
            REMEMBER.run(bridge, {"content": "shared words", "tags": ["t"]}, scope)
        assert "agent_id" not in FORGET_SUBJECT.json_schema(mine)["properties"]
        receipt = FORGET_SUBJECT.run(bridge, {"tags": ["t"]}, mine)
        assert receipt.removed["memories"] == 1 and receipt.subject == {"agent_id": uid, "tags": ["t"]}
        assert [m.agent_id for m in mt.list_memories().memories] == [f"{uid}_other"]
        assert '"memories": 1' in FORGET_SUBJECT.text(receipt)
        with pytest.raises(ValidationError) as exc:
            FORGET_SUBJECT.run(bridge, {})  # no scope, nothing named
        assert exc.value.field == "filter"
