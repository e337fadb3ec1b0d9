"""`ChatMemoryBuffer` over `MemtraceChatStore` in a real LlamaIndex chat engine: the conversation survives
the process (a fresh client on the same data directory, or another client of the same server, sees it)."""

from __future__ import annotations

from pathlib import Path

from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import ChatMemoryBuffer
from llamaindex_helpers import ScriptedLLM, prompt_text

from memtrace import AsyncMemtrace, Memtrace
from memtrace_llamaindex import MemtraceChatStore

TURNS = ["Hi, I am Ann.", "I live in Lisbon.", "Where do I live?"]
EXPECTED = [
    ("user", "Hi, I am Ann."),
    ("assistant", "reply 1"),
    ("user", "I live in Lisbon."),
    ("assistant", "reply 2"),
    ("user", "Where do I live?"),
    ("assistant", "reply 3"),
]
KEY = "ann@example.com"  # not a valid memtrace id: the store maps it


def engine_over(store: MemtraceChatStore, llm: ScriptedLLM, key: str = KEY) -> SimpleChatEngine:
    memory = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key=key, token_limit=3000)
    return SimpleChatEngine.from_defaults(llm=llm, memory=memory)


def roles_and_text(store: MemtraceChatStore, key: str = KEY) -> list[tuple[str, str | None]]:
    return [(m.role.value, m.content) for m in store.get_messages(key)]


def test_three_turns_reach_the_model_and_a_fresh_client_sees_them(
    client: Memtrace, data_dir: Path, scripted_llm: ScriptedLLM
) -> None:
    engine = engine_over(MemtraceChatStore(client), scripted_llm)
    for turn in TURNS:
        engine.chat(turn)

    # The third prompt carried the first two turns and their replies, in order.
    third = scripted_llm.prompts[2]
    assert [(m.role.value, m.content) for m in third] == EXPECTED[:5]
    assert "Lisbon" in prompt_text(third)

    # A fresh client on the same directory (another process would do the same) sees the whole conversation.
    with Memtrace.open(data_dir) as fresh:
        store = MemtraceChatStore(fresh)
        assert roles_and_text(store) == EXPECTED
        assert store.get_keys() == [KEY]
        resumed = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key=KEY, token_limit=3000)
        assert [(m.role.value, m.content) for m in resumed.get()] == EXPECTED


async def test_async_engine_with_both_clients(
    client: Memtrace, aclient: AsyncMemtrace, data_dir: Path, scripted_llm: ScriptedLLM
) -> None:
    # ChatMemoryBuffer.aget runs the sync get() in a thread, so an async engine needs the sync client too;
    # aput/aset go through the native async client.
    store = MemtraceChatStore(client, async_client=aclient)
    engine = engine_over(store, scripted_llm)
    for turn in TURNS:
        await engine.achat(turn)
    assert [(m.role.value, m.content) for m in await store.aget_messages(KEY)] == EXPECTED

    with Memtrace.open(data_dir) as fresh:
        assert roles_and_text(MemtraceChatStore(fresh)) == EXPECTED


def test_remote_client_sees_the_same_history(
    remote_client: Memtrace, live_server: object, unique_agent: str, scripted_llm: ScriptedLLM
) -> None:
    engine = engine_over(MemtraceChatStore(remote_client, agent_id=unique_agent), scripted_llm)
    for turn in TURNS:
        engine.chat(turn)

    with Memtrace(live_server.base_url, live_server.api_key) as other:  # type: ignore[attr-defined]
        store = MemtraceChatStore(other, agent_id=unique_agent)
        assert roles_and_text(store) == EXPECTED
        assert store.get_keys() == [KEY]


def test_conversations_under_different_keys_and_agents_stay_apart(
    client: Memtrace, scripted_llm: ScriptedLLM
) -> None:
    engine_over(MemtraceChatStore(client), scripted_llm, key="7f9c1a2e-uuid-starting-with-a-digit").chat(
        "one"
    )
    engine_over(MemtraceChatStore(client), scripted_llm, key="bob").chat("two")
    engine_over(MemtraceChatStore(client, agent_id="other_agent"), scripted_llm, key="bob").chat("three")

    store = MemtraceChatStore(client)
    assert [m.content for m in store.get_messages("7f9c1a2e-uuid-starting-with-a-digit")] == [
        "one",
        "reply 1",
    ]
    assert [m.content for m in store.get_messages("bob")] == ["two", "reply 2"]
    assert sorted(store.get_keys()) == ["7f9c1a2e-uuid-starting-with-a-digit", "bob"]
    assert [m.content for m in MemtraceChatStore(client, agent_id="other_agent").get_messages("bob")] == [
        "three",
        "reply 3",
    ]
