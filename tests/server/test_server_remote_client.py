"""The remote client (`Memtrace(base_url, api_key)`, `AsyncMemtrace`): what only a server can do to it.

tests/core/test_client.py runs the whole client API over both backends; here are the HTTP-specific cases:
permissions, keys, unreachable servers, ids that need escaping, and `from_env`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    AuthenticationError,
    ConflictError,
    ListOptions,
    Memtrace,
    NotFoundError,
    PermissionDeniedError,
    RegisterAgentRequest,
    ServiceUnavailableError,
    ValidationError,
)

Tenant = Callable[..., tuple[str, str, int]]


def test_permission_and_key_errors(live_server, new_org_key: Tenant) -> None:
    _, reader, _ = new_org_key(permissions="read")
    with Memtrace(live_server.base_url, reader) as client:
        assert client.recall("anyone").count == 0
        with pytest.raises(PermissionDeniedError) as err:
            client.remember("anyone", "not allowed")
        assert err.value.status_code == 403
    with (
        Memtrace(live_server.base_url, "mtk_" + "Z" * 43 + "=") as stranger,
        pytest.raises(AuthenticationError),
    ):
        stranger.list_agents()


def test_errors_carry_the_engines_field_names(live_server) -> None:
    uid = "t" + uuid.uuid4().hex[:10]
    with Memtrace(live_server.base_url, live_server.api_key) as client:
        with pytest.raises(ValidationError) as err:
            client.list_memories(ListOptions(agent_id=uid, limit=5000))
        assert err.value.field == "limit" and err.value.status_code == 400
        with pytest.raises(ValidationError) as err:
            client.add_memory(AddMemoryRequest(agent_id=uid, content="x", tags=["ok", "not ok"]))
        assert err.value.field == "tags[1]"
        with pytest.raises(ValidationError) as err:
            client.add_memory("not a request")  # type: ignore[arg-type]
        assert err.value.field == "request"
        with pytest.raises(NotFoundError):
            client.get_session("sess_" + uuid.uuid4().hex)
        with pytest.raises(ValidationError):
            client.get_session("")


def test_agent_names_that_need_escaping(live_server) -> None:
    with Memtrace(live_server.base_url, live_server.api_key) as client:
        for name in (f"team/bot {uuid.uuid4().hex[:6]}", f"ünï?#&%2F {uuid.uuid4().hex[:6]}"):
            agent = client.register_agent(RegisterAgentRequest(name=name))
            assert client.get_agent(name).id == agent.id
            with pytest.raises(ConflictError):
                client.register_agent(RegisterAgentRequest(name=name))


async def test_async_client_against_the_server(live_server) -> None:
    uid = "t" + uuid.uuid4().hex[:10]
    async with AsyncMemtrace(live_server.base_url, live_server.api_key) as client:
        written = await client.add_memories(
            [AddMemoryRequest(agent_id=uid, content=f"m{i}") for i in range(3)]
        )
        assert len(written) == 3 and written.skipped == 0
        assert (await client.recall(uid)).count == 3
        with pytest.raises(ConflictError):
            await client.remember(uid, "m0")
        assert await client.delete_memories(agent_id=uid) == 3


def test_batch_duplicates_and_filtered_deletes_match_the_embedded_client(live_server, tmp_path) -> None:
    uid = "t" + uuid.uuid4().hex[:10]
    remote = Memtrace(live_server.base_url, live_server.api_key)
    embedded = Memtrace.open(tmp_path / "data")
    outcomes = []
    for client in (remote, embedded):
        with client:
            batch = client.add_memories(
                [
                    AddMemoryRequest(agent_id=uid, content="a", tags=["chat"], memory_type="session"),
                    AddMemoryRequest(agent_id=uid, content="a", tags=["chat"], memory_type="session"),
                    AddMemoryRequest(agent_id=uid, content="b", tags=["chat", "x"], memory_type="session"),
                    AddMemoryRequest(agent_id=uid, content="c"),
                    AddMemoryRequest(agent_id=uid, content="d"),
                ]
            )
            ids = [m.id for m in batch]
            outcomes.append(
                (
                    batch.skipped_indexes,
                    client.delete_memories(agent_id=uid, memory_type="session", tags=["chat", "x"]),
                    client.delete_memories(memory_ids=ids[2:]),
                    client.delete_memories(memory_ids=[]),
                    [m.content for m in client.recall(uid).memories],
                )
            )
            with pytest.raises(ValidationError) as err:
                client.delete_memories(memory_type="session")
            assert err.value.field == "filter"
            with pytest.raises(ValidationError) as err:
                client.delete_memories(memory_ids=["nope"])
            assert err.value.field == "memory_ids[0]"
    assert outcomes[0] == outcomes[1] == ([1], 1, 2, 0, ["a"])


def test_an_unreachable_server_is_service_unavailable() -> None:
    client = Memtrace("http://127.0.0.1:9", "mtk_" + "A" * 43 + "=", timeout=2)
    with client, pytest.raises(ServiceUnavailableError, match="cannot reach"):
        client.recall("a1")


def test_from_env_picks_the_server(live_server, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = "t" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("MEMTRACE_URL", live_server.base_url)
    monkeypatch.setenv("MEMTRACE_API_KEY", live_server.api_key)
    with Memtrace.from_env() as client:
        client.remember(uid, "via the environment")
    with Memtrace(live_server.base_url, live_server.api_key) as direct:
        assert [m.content for m in direct.recall(uid).memories] == ["via the environment"]
