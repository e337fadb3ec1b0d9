"""Facts that change through the client, embedded and remote, sync and async: keyed writes, the current fact,
its history, current-by-default reads with `include_superseded` and `as_of`, and the errors naming fields."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    ConflictError,
    ListOptions,
    Memtrace,
    NotFoundError,
    SearchQuery,
    ValidationError,
)

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["embedded", "remote"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "embedded":
        yield {"path": str(tmp_path / "data")}
    else:
        server = request.getfixturevalue("live_server")
        yield {"base_url": server.base_url, "api_key": server.api_key}


def open_client(cfg: dict[str, str]) -> Memtrace:
    return Memtrace.open(cfg["path"]) if "path" in cfg else Memtrace(cfg["base_url"], cfg["api_key"])


@pytest.fixture
def uid() -> str:
    return "t" + uuid.uuid4().hex[:12]


def test_facts_through_the_client(backend: dict[str, str], uid: str) -> None:
    key = f"user:{uid}/city"
    with open_client(backend) as mt:
        paris = mt.add_memory(AddMemoryRequest(agent_id=uid, content="lives in Paris", key=key, time=T0))
        berlin = mt.add_memory(
            AddMemoryRequest(agent_id=uid, content="lives in Berlin", key=key, time=T0 + timedelta(days=1))
        )
        assert mt.get_fact(key).id == berlin.id and berlin.key == key
        history = mt.fact_history(key)
        assert [m.id for m in history.memories] == [paris.id, berlin.id]
        assert history.memories[0].superseded_by == berlin.id
        assert history.memories[0].valid_until == berlin.valid_from == T0 + timedelta(days=1)
        assert [m.id for m in mt.list_facts(prefix=f"user:{uid}/").memories] == [berlin.id]
        assert [m.content for m in mt.list_memories(ListOptions(agent_id=uid)).memories] == [
            "lives in Berlin"
        ]
        every = mt.list_memories(ListOptions(agent_id=uid, include_superseded=True)).memories
        assert {m.id for m in every} == {paris.id, berlin.id}
        then = mt.list_memories(ListOptions(agent_id=uid, as_of=(T0 + timedelta(hours=1)).isoformat()))
        assert [m.id for m in then.memories] == [paris.id]
        assert mt.search_memories(SearchQuery(agent_id=uid, query="Paris")).results == []
        found = mt.search_memories(SearchQuery(agent_id=uid, query="Paris", include_superseded=True)).results
        assert [m.id for m in found] == [paris.id]
        assert mt.get_memory(paris.id).valid_until is not None  # by id: any version
        with pytest.raises(ConflictError):
            mt.add_memory(AddMemoryRequest(agent_id=uid, content="lives in Berlin", key=key))
        with pytest.raises(NotFoundError):
            mt.get_fact(f"user:{uid}/unknown")
        with pytest.raises(ValidationError) as err:
            mt.add_memory(AddMemoryRequest(agent_id=uid, content="x", key="bad key"))
        assert err.value.field == "key"
        with pytest.raises(NotFoundError, match=r"supersedes\[0\]"):
            mt.add_memory(AddMemoryRequest(agent_id=uid, content="x", supersedes=["mem_" + "0" * 26]))
        with pytest.raises(ValidationError) as err:
            mt.list_memories(ListOptions(as_of="not a time"))
        assert err.value.field == "as_of"


def test_facts_through_the_async_client(backend: dict[str, str], uid: str) -> None:
    key = f"project:{uid}/owner"

    async def scenario() -> None:
        if "path" in backend:
            client = AsyncMemtrace.open(backend["path"])
        else:
            client = AsyncMemtrace(backend["base_url"], backend["api_key"])
        async with client as mt:
            await mt.add_memory(AddMemoryRequest(agent_id=uid, content="Ada", key=key))
            await mt.add_memory(AddMemoryRequest(agent_id=uid, content="Grace", key=key))
            assert (await mt.get_fact(key)).content == "Grace"
            assert [m.content for m in (await mt.fact_history(key)).memories] == ["Ada", "Grace"]

    asyncio.run(scenario())


def test_a_raw_slash_in_a_key_reaches_the_fact(live_server, uid: str) -> None:
    key = f"user:{uid}/city"
    with Memtrace(live_server.base_url, live_server.api_key) as mt:
        mt.add_memory(AddMemoryRequest(agent_id=uid, content="Oslo", key=key))
    headers = {"Authorization": f"Bearer {live_server.api_key}"}
    raw = httpx.get(f"{live_server.base_url}/api/v1/facts/{key}", headers=headers)
    assert raw.status_code == 200 and raw.json()["content"] == "Oslo"
    encoded = httpx.get(
        f"{live_server.base_url}/api/v1/facts/{key.replace('/', '%2F')}/history", headers=headers
    )
    assert encoded.status_code == 200 and [m["content"] for m in encoded.json()["memories"]] == ["Oslo"]
