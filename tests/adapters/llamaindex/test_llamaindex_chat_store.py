"""`MemtraceChatStore` behaves like LlamaIndex's own `SimpleChatStore`: the same calls give the same results.

Every behavioural case runs against both stores; the transcript tests replay one script on each and compare
the results item by item.
"""

from __future__ import annotations

import asyncio
import copy
import os
import pickle
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import llama_index.core
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.storage.chat_store import BaseChatStore, SimpleChatStore
from llamaindex_helpers import dump
from llamaindex_messages import conversation

from memtrace import AsyncMemtrace, Memtrace, SearchQuery, ValidationError
from memtrace_llamaindex import MemtraceChatStore

KEYS = ["user-1", "ann@example.com", "0f8fad5b-d9cb-469f-a165-70867728950e"]


@pytest.fixture(params=["simple", "memtrace"])
def store(request: pytest.FixtureRequest, client: Memtrace) -> BaseChatStore:
    return SimpleChatStore() if request.param == "simple" else MemtraceChatStore(client)


def msg(text: str, role: MessageRole = MessageRole.USER) -> ChatMessage:
    return ChatMessage(role=role, content=text)


# -- behavioural cases, each against both stores --------------------------------------------------------------


def test_messages_round_trip_exactly_in_order(store: BaseChatStore) -> None:
    for m in conversation():
        store.add_message("user-1", m)
    assert store.get_messages("user-1") == conversation()
    assert dump(store.get_messages("user-1")) == dump(conversation())


def test_unknown_key_is_empty(store: BaseChatStore) -> None:
    assert store.get_messages("nobody") == []
    assert store.delete_messages("nobody") is None
    assert store.delete_message("nobody", 0) is None
    assert store.delete_last_message("nobody") is None
    assert store.get_keys() == []


def test_delete_message_by_position(store: BaseChatStore) -> None:
    for text in ["a", "b", "c", "d"]:
        store.add_message("k", msg(text))
    assert store.delete_message("k", 1) == msg("b")
    assert store.delete_message("k", -1) == msg("d")  # negative counts from the end, like list.pop
    assert store.delete_message("k", 7) is None
    assert [m.content for m in store.get_messages("k")] == ["a", "c"]
    assert store.delete_last_message("k") == msg("c")
    assert [m.content for m in store.get_messages("k")] == ["a"]


def test_set_messages_replaces_the_conversation(store: BaseChatStore) -> None:
    store.add_message("k", msg("old"))
    store.set_messages("k", [msg("new 1"), msg("new 2", MessageRole.ASSISTANT)])
    assert store.get_messages("k") == [msg("new 1"), msg("new 2", MessageRole.ASSISTANT)]


def test_delete_messages_returns_them_and_forgets_the_key(store: BaseChatStore) -> None:
    store.add_message("gone", msg("x"))
    store.add_message("gone", msg("y"))
    store.add_message("kept", msg("z"))
    assert store.delete_messages("gone") == [msg("x"), msg("y")]
    assert store.get_messages("gone") == []
    assert store.get_keys() == ["kept"]


def test_any_key_works_and_is_listed_as_given(store: BaseChatStore) -> None:
    for i, key in enumerate(KEYS):
        store.add_message(key, msg(f"hello {i}"))
    assert sorted(store.get_keys()) == sorted(KEYS)
    for i, key in enumerate(KEYS):
        assert store.get_messages(key) == [msg(f"hello {i}")]


async def test_async_methods(store: BaseChatStore) -> None:
    await store.aset_messages("k", [msg("a"), msg("b")])
    await store.async_add_message("k", msg("c"))
    assert [m.content for m in await store.aget_messages("k")] == ["a", "b", "c"]
    assert await store.adelete_message("k", 0) == msg("a")
    assert await store.adelete_last_message("k") == msg("c")
    assert await store.aget_keys() == ["k"]
    assert await store.adelete_messages("k") == [msg("b")]
    assert await store.aget_messages("k") == []


# -- identical transcripts ------------------------------------------------------------------------------------


def script(store: BaseChatStore) -> list[Any]:
    """Every public sync method, on several keys; the observable result of each step."""
    out: list[Any] = []
    for key in KEYS:
        for m in conversation():
            store.add_message(key, m)
    out.append(sorted(store.get_keys()))
    out.append(dump(store.get_messages(KEYS[1])))
    out.append(dump(store.delete_message(KEYS[1], 3)))
    out.append(dump(store.delete_message(KEYS[1], -2)))
    out.append(dump(store.delete_message(KEYS[1], 100)))
    out.append(dump(store.delete_last_message(KEYS[1])))
    out.append(dump(store.get_messages(KEYS[1])))
    store.set_messages(KEYS[2], conversation()[3:6])
    out.append(dump(store.get_messages(KEYS[2])))
    out.append(dump(store.delete_messages(KEYS[0])))
    out.append(dump(store.delete_messages(KEYS[0])))
    out.append(sorted(store.get_keys()))
    out.append([dump(store.get_messages(k)) for k in KEYS])
    return out


async def ascript(store: BaseChatStore) -> list[Any]:
    """The same script through the async methods."""
    out: list[Any] = []
    for key in KEYS:
        for m in conversation():
            await store.async_add_message(key, m)
    out.append(sorted(await store.aget_keys()))
    out.append(dump(await store.aget_messages(KEYS[1])))
    out.append(dump(await store.adelete_message(KEYS[1], 3)))
    out.append(dump(await store.adelete_message(KEYS[1], -2)))
    out.append(dump(await store.adelete_message(KEYS[1], 100)))
    out.append(dump(await store.adelete_last_message(KEYS[1])))
    out.append(dump(await store.aget_messages(KEYS[1])))
    await store.aset_messages(KEYS[2], conversation()[3:6])
    out.append(dump(await store.aget_messages(KEYS[2])))
    out.append(dump(await store.adelete_messages(KEYS[0])))
    out.append(dump(await store.adelete_messages(KEYS[0])))
    out.append(sorted(await store.aget_keys()))
    out.append([dump(await store.aget_messages(k)) for k in KEYS])
    return out


def test_same_transcript_as_simple_chat_store(client: Memtrace) -> None:
    expected = script(SimpleChatStore())
    assert script(MemtraceChatStore(client)) == expected


async def test_same_async_transcript_as_simple_chat_store(client: Memtrace, aclient: AsyncMemtrace) -> None:
    expected = await ascript(SimpleChatStore())
    assert await ascript(MemtraceChatStore(async_client=aclient)) == expected  # native async
    assert await ascript(MemtraceChatStore(client, agent_id="threaded")) == expected  # sync client in threads


def test_same_transcript_against_a_live_server(remote_client: Memtrace, unique_agent: str) -> None:
    assert script(MemtraceChatStore(remote_client, agent_id=unique_agent)) == script(SimpleChatStore())


# -- memtrace specifics ---------------------------------------------------------------------------------------


def test_messages_are_searchable_memories(client: Memtrace) -> None:
    store = MemtraceChatStore(client)
    store.add_message("ann@example.com", msg("My flight to Osaka leaves Tuesday"))

    hits = client.search_memories(SearchQuery(query="Osaka flight", agent_id="llamaindex", limit=3)).results
    assert [h.content for h in hits] == ["My flight to Osaka leaves Tuesday"]


def test_text_less_turns_are_described_for_search(client: Memtrace) -> None:
    store = MemtraceChatStore(client)
    for m in conversation():
        store.add_message("k", m)
    hits = client.search_memories(SearchQuery(query="clock", agent_id="llamaindex")).results
    assert [h.content for h in hits] == ["[assistant message: tool_call clock]"]
    assert store.get_messages("k") == conversation()  # the description is only the searchable text


def test_sessions_are_listed_with_the_original_key(client: Memtrace, data_dir: Path) -> None:
    MemtraceChatStore(client).add_message("ann@example.com", msg("hi"))
    (session,) = client.list_sessions(agent_id="llamaindex").sessions
    assert session.metadata == {"key": "ann@example.com"}


def test_bad_agent_id_fails_at_construction(client: Memtrace) -> None:
    with pytest.raises(ValidationError) as err:
        MemtraceChatStore(client, agent_id="1 not valid")
    assert err.value.field == "agent_id"


def test_empty_key_is_a_clear_error(client: Memtrace) -> None:
    with pytest.raises(ValidationError) as err:
        MemtraceChatStore(client).add_message("", msg("x"))
    assert err.value.field == "key"


@pytest.mark.parametrize("where", ["embedded", "remote"])
def test_async_only_store_serves_chat_memory_buffer(
    where: str, data_dir: Path, request: pytest.FixtureRequest
) -> None:
    """A store given only an AsyncMemtrace serves ChatMemoryBuffer's sync get/put (sync code, across
    asyncio.run calls, and from threads), as the other adapters' stores do through the one bridge."""
    if where == "remote":
        server = request.getfixturevalue("live_server")
        aclient = AsyncMemtrace(server.base_url, server.api_key)
    else:
        aclient = AsyncMemtrace.open(data_dir)
    key = f"async-only-{uuid.uuid4().hex[:8]}"
    store = MemtraceChatStore(async_client=aclient)
    asyncio.run(store.async_add_message(key, msg("one")))
    buffer = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key=key, token_limit=1000)
    buffer.put(msg("two", MessageRole.ASSISTANT))
    assert [m.content for m in buffer.get_all()] == ["one", "two"]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: store.add_message(key, msg(f"t{i}")), range(4)))
    assert sorted(str(m.content) for m in store.get_messages(key)[2:]) == ["t0", "t1", "t2", "t3"]
    assert asyncio.run(store.aget_messages(key)) == store.get_messages(key)
    asyncio.run(aclient.aclose())


def test_long_conversations_page_past_one_thousand(client: Memtrace) -> None:
    store = MemtraceChatStore(client)
    store.set_messages("long", [msg(f"m{i}") for i in range(1203)])
    got = store.get_messages("long")
    assert [m.content for m in got] == [f"m{i}" for i in range(1203)]
    assert store.delete_message("long", 1100) == msg("m1100")
    assert store.delete_last_message("long") == msg("m1202")
    assert len(store.get_messages("long")) == 1201


def test_class_name_identifies_the_store(client: Memtrace) -> None:
    assert MemtraceChatStore.class_name() == "MemtraceChatStore"
    assert MemtraceChatStore(client).to_dict()["class_name"] == "MemtraceChatStore"


def test_rebuilt_without_its_constructor_it_uses_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Workflows restore pydantic state with model_validate, which skips __init__ and its client argument.
    monkeypatch.delenv("MEMTRACE_URL", raising=False)
    monkeypatch.setenv("MEMTRACE_DATA_DIR", str(tmp_path / "env-data"))
    with Memtrace.open(tmp_path / "original") as original:
        state = MemtraceChatStore(original, agent_id="bot").to_dict()
    restored = MemtraceChatStore.model_validate(state)
    restored.add_message("k", msg("hello"))
    restored.client.close()
    with Memtrace.open(tmp_path / "env-data") as mt:
        assert MemtraceChatStore(mt, agent_id="bot").get_messages("k") == [msg("hello")]


def test_copies_share_the_client(client: Memtrace) -> None:
    store = MemtraceChatStore(client)
    copy.deepcopy(store).add_message("k", msg("via the copy"))
    assert store.get_messages("k") == [msg("via the copy")]
    assert copy.deepcopy(store).client is client


def test_a_pickled_chat_memory_buffer_keeps_its_client(client: Memtrace) -> None:
    buffer = ChatMemoryBuffer.from_defaults(chat_store=MemtraceChatStore(client), chat_store_key="k")
    buffer.put(msg("before pickling"))

    restored = pickle.loads(pickle.dumps(buffer))

    assert restored.chat_store.client is client
    assert restored.get() == [msg("before pickling")]
    restored.put(msg("after"))
    assert [m.content for m in buffer.get_all()] == ["before pickling", "after"]


def test_unpickled_where_its_client_does_not_exist_it_refuses_until_rebound(
    client: Memtrace, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process cannot have the client; it must not quietly open ./data or MEMTRACE_DATA_DIR."""
    buffer = ChatMemoryBuffer.from_defaults(chat_store=MemtraceChatStore(client), chat_store_key="k")
    buffer.put(msg("stored once"))
    blob = tmp_path / "buffer.pickle"
    blob.write_bytes(pickle.dumps(buffer))
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    script = f"""
import pickle, sys
from memtrace import Memtrace
from memtrace_llamaindex import ClientNotBoundError
buffer = pickle.loads(open({str(blob)!r}, "rb").read())
try:
    buffer.get()
except ClientNotBoundError as exc:
    print("refused:", "bind" in str(exc))
with Memtrace.open({str(data_dir)!r}) as mt:
    buffer.chat_store.bind(mt)
    print("rebound:", [m.content for m in buffer.get()])
"""
    # The buffer's tokenizer unpickles by name; point tiktoken at LlamaIndex's bundled files (no network).
    tiktoken_cache = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
    env = {
        **os.environ,
        "MEMTRACE_DATA_DIR": str(workdir / "env-data"),
        "TIKTOKEN_CACHE_DIR": str(tiktoken_cache),
    }
    env.pop("MEMTRACE_URL", None)
    client.close()  # the child opens the same data directory
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["refused: True", "rebound: ['stored once']"]
    assert list(workdir.iterdir()) == []  # no ./data, no MEMTRACE_DATA_DIR
