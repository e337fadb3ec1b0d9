"""`MemtraceDBChatStore` behaves like LlamaIndex's `SQLAlchemyChatStore` (on a SQLite file), the default store
of the new `Memory`: the same calls, and the same `Memory` runs, give the same results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.memory import Memory
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore
from llamaindex_helpers import dump
from llamaindex_messages import conversation

from memtrace import AsyncMemtrace, ListOptions, Memtrace, ValidationError
from memtrace_llamaindex import MemtraceDBChatStore

ACTIVE, ARCHIVED = MessageStatus.ACTIVE, MessageStatus.ARCHIVED
KEYS = ["session-1", "9b2d7c1e-8f4a-4c1b-9d3e-2a6f5b7c8d9e", "bob@example.com"]


@pytest.fixture
async def sqlalchemy_store(tmp_path: Path) -> AsyncIterator[SQLAlchemyChatStore]:
    store = SQLAlchemyChatStore(
        table_name="llama_index_memory", async_database_uri=f"sqlite+aiosqlite:///{tmp_path / 'peer.db'}"
    )
    yield store
    if store._async_engine is not None:  # the peer opens its engine lazily; close it on this test's loop
        await store._async_engine.dispose()


@pytest.fixture(params=["sqlalchemy", "memtrace"])
async def store(
    request: pytest.FixtureRequest, sqlalchemy_store: SQLAlchemyChatStore, aclient: AsyncMemtrace
) -> AsyncDBChatStore:
    return sqlalchemy_store if request.param == "sqlalchemy" else MemtraceDBChatStore(aclient)


def msg(text: str, role: MessageRole = MessageRole.USER) -> ChatMessage:
    return ChatMessage(role=role, content=text)


def texts(messages: list[ChatMessage]) -> list[str | None]:
    return [m.content for m in messages]


async def fill(store: AsyncDBChatStore, key: str, n: int) -> None:
    for i in range(n):
        await store.add_message(key, msg(f"m{i}", MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT))


# -- behavioural cases, each against both stores --------------------------------------------------------------


async def test_messages_round_trip_exactly_in_order(store: AsyncDBChatStore) -> None:
    await store.add_messages("k", conversation()[:4])
    for m in conversation()[4:]:
        await store.add_message("k", m)
    assert await store.get_messages("k") == conversation()
    assert await store.count_messages("k") == len(conversation())


async def test_archive_moves_the_oldest_active_messages(store: AsyncDBChatStore) -> None:
    await fill(store, "k", 5)
    assert texts(await store.archive_oldest_messages("k", 2)) == ["m0", "m1"]
    assert texts(await store.get_messages("k")) == ["m2", "m3", "m4"]
    assert texts(await store.get_messages("k", status=ARCHIVED)) == ["m0", "m1"]
    assert texts(await store.get_messages("k", status=None)) == ["m0", "m1", "m2", "m3", "m4"]  # order kept
    assert (await store.count_messages("k"), await store.count_messages("k", ARCHIVED)) == (3, 2)
    assert await store.count_messages("k", status=None) == 5
    # More than there are: all the remaining active ones.
    assert texts(await store.archive_oldest_messages("k", 10)) == ["m2", "m3", "m4"]
    assert await store.archive_oldest_messages("k", 1) == []
    assert texts(await store.get_messages("k", status=None)) == ["m0", "m1", "m2", "m3", "m4"]


async def test_delete_oldest_messages(store: AsyncDBChatStore) -> None:
    await fill(store, "k", 4)
    await store.archive_oldest_messages("k", 1)
    assert texts(await store.delete_oldest_messages("k", 2)) == ["m1", "m2"]  # active ones only
    assert texts(await store.get_messages("k", status=None)) == ["m0", "m3"]


async def test_limit_and_offset_page_within_a_status(store: AsyncDBChatStore) -> None:
    await fill(store, "k", 6)
    await store.archive_oldest_messages("k", 2)
    assert texts(await store.get_messages("k", limit=2)) == ["m2", "m3"]
    assert texts(await store.get_messages("k", limit=2, offset=1)) == ["m3", "m4"]
    assert texts(await store.get_messages("k", status=None, offset=4)) == ["m4", "m5"]
    assert texts(await store.get_messages("k", status=ARCHIVED, limit=5)) == ["m0", "m1"]


async def test_status_on_write_and_delete_by_status(store: AsyncDBChatStore) -> None:
    await store.add_message("k", msg("a"))
    await store.add_message("k", msg("b"), status=ARCHIVED)
    await store.add_messages("k", [msg("c"), msg("d")], status=ARCHIVED)
    assert texts(await store.get_messages("k", status=ARCHIVED)) == ["b", "c", "d"]
    await store.delete_messages("k", status=ARCHIVED)
    assert texts(await store.get_messages("k", status=None)) == ["a"]
    await store.delete_messages("k")
    assert await store.get_messages("k", status=None) == []


async def test_set_messages_replaces_every_status(store: AsyncDBChatStore) -> None:
    await fill(store, "k", 3)
    await store.archive_oldest_messages("k", 1)
    await store.set_messages("k", [msg("x"), msg("y")], status=ARCHIVED)
    assert texts(await store.get_messages("k", status=None)) == ["x", "y"]
    assert await store.count_messages("k") == 0
    assert await store.count_messages("k", ARCHIVED) == 2


async def test_keys_are_listed_as_given(store: AsyncDBChatStore) -> None:
    assert await store.get_keys() == []
    for key in KEYS:
        await store.add_message(key, msg(key))
    assert sorted(await store.get_keys()) == sorted(KEYS)
    await store.delete_messages(KEYS[0])
    assert sorted(await store.get_keys()) == sorted(KEYS[1:])


async def test_unknown_key(store: AsyncDBChatStore) -> None:
    assert await store.get_messages("nobody", status=None) == []
    assert await store.count_messages("nobody") == 0
    assert await store.delete_oldest_messages("nobody", 3) == []
    assert await store.archive_oldest_messages("nobody", 3) == []
    await store.delete_messages("nobody")


# -- the new Memory over each store: identical queues, archives and prompts -------------------------------------


async def memory_run(store: AsyncDBChatStore) -> list[Any]:
    """Memory with a small token budget: the FIFO queue overflows and archives, as in a long chat."""
    memory = Memory.from_defaults(session_id="user-2", chat_store=store, token_limit=60, token_flush_size=20)
    out: list[Any] = []
    for i in range(20):
        role = MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT
        await memory.aput(ChatMessage(role=role, content=f"message number {i} says hello"))
        out.append(dump(await memory.aget()))
    out.append(dump(await memory.aget_all(status=ACTIVE)))
    out.append(dump(await memory.aget_all(status=ARCHIVED)))
    out.append(dump(await memory.aget_all()))
    await memory.aset([ChatMessage(role=MessageRole.USER, content="fresh start")])
    out.append(dump(await memory.aget_all()))
    await memory.areset()
    out.append(dump(await memory.aget_all()))
    return out


async def test_memory_over_both_stores_gives_identical_results(
    sqlalchemy_store: SQLAlchemyChatStore, aclient: AsyncMemtrace
) -> None:
    expected = await memory_run(sqlalchemy_store)
    active, archived, everything = expected[-5:-2]
    assert active and archived and len(everything) == 20  # it did overflow and archive
    assert await memory_run(MemtraceDBChatStore(aclient)) == expected


async def test_memory_with_a_sync_client_gives_identical_results(
    sqlalchemy_store: SQLAlchemyChatStore, client: Memtrace
) -> None:
    assert await memory_run(MemtraceDBChatStore(client)) == await memory_run(sqlalchemy_store)


async def test_memory_against_a_live_server(
    sqlalchemy_store: SQLAlchemyChatStore, remote_client: Memtrace, unique_agent: str
) -> None:
    remote = MemtraceDBChatStore(remote_client, agent_id=unique_agent)
    assert await memory_run(remote) == await memory_run(sqlalchemy_store)


async def test_memory_against_a_live_server_with_an_async_client(
    sqlalchemy_store: SQLAlchemyChatStore, live_server: Any, unique_agent: str
) -> None:
    async with AsyncMemtrace(live_server.base_url, live_server.api_key) as remote:
        got = await memory_run(MemtraceDBChatStore(remote, agent_id=unique_agent))
    assert got == await memory_run(sqlalchemy_store)


async def test_memory_survives_a_fresh_client(aclient: AsyncMemtrace, data_dir: Path) -> None:
    memory = Memory.from_defaults(
        session_id="user-3", chat_store=MemtraceDBChatStore(aclient), token_limit=60
    )
    for i in range(12):
        await memory.aput(ChatMessage(role=MessageRole.USER, content=f"message number {i} says hello"))
    before = (await memory.aget(), await memory.aget_all())
    async with AsyncMemtrace.open(data_dir) as fresh:
        again = Memory.from_defaults(
            session_id="user-3", chat_store=MemtraceDBChatStore(fresh), token_limit=60
        )
        assert (await again.aget(), await again.aget_all()) == before


# -- memtrace specifics ---------------------------------------------------------------------------------------


async def test_delete_message_is_by_position_in_the_whole_conversation(aclient: AsyncMemtrace) -> None:
    # SQLAlchemyChatStore reads idx as its own row id; ours is the position, archived messages included.
    store = MemtraceDBChatStore(aclient)
    await fill(store, "k", 4)
    await store.archive_oldest_messages("k", 2)
    assert (await store.delete_message("k", 1)) == msg("m1", MessageRole.ASSISTANT)
    assert (await store.delete_message("k", -1)) == msg("m3", MessageRole.ASSISTANT)
    assert await store.delete_message("k", 5) is None
    assert texts(await store.get_messages("k", status=None)) == ["m0", "m2"]


async def test_archived_messages_keep_their_original_time(aclient: AsyncMemtrace) -> None:
    store = MemtraceDBChatStore(aclient)
    await fill(store, "k", 3)
    before = (await aclient.list_memories(ListOptions(session_id="k", order="asc"))).memories
    await store.archive_oldest_messages("k", 2)
    after = (await aclient.list_memories(ListOptions(session_id="k", order="asc"))).memories
    assert [m.time for m in after] == [m.time for m in before]
    assert [m.tags for m in after] == [["archived"], ["archived"], ["active"]]


def test_bad_agent_id_fails_at_construction(client: Memtrace) -> None:
    with pytest.raises(ValidationError) as err:
        MemtraceDBChatStore(client, agent_id="has space")
    assert err.value.field == "agent_id"


# -- behaviours from LlamaIndex's own Memory tests (tests/memory/test_memory_custom_chat_store.py) ------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_sync_put_works_across_event_loops(kind: str, data_dir: Path) -> None:
    """Memory's sync methods run each call on a fresh event loop; the store must follow."""
    client: Memtrace | AsyncMemtrace = (
        Memtrace.open(data_dir) if kind == "sync" else AsyncMemtrace.open(data_dir)
    )
    memory = Memory(token_limit=1000, session_id="loop_user", sql_store=MemtraceDBChatStore(client))
    memory.put(ChatMessage(role=MessageRole.USER, content="one"))
    memory.put(ChatMessage(role=MessageRole.USER, content="two"))
    assert [m.content for m in memory.get_all()] == ["one", "two"]
