"""MemtraceChatMessageHistory: the same behaviour as LangChain's InMemoryChatMessageHistory, persisted."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory, InMemoryChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_helpers import EchoChatModel

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    ListOptions,
    Memtrace,
    SearchQuery,
    ValidationError,
    id_for_key,
)
from memtrace.limits import MAX_METADATA_BYTES
from memtrace_langchain import MemtraceChatMessageHistory
from memtrace_langchain._messages import MAX_CONTENT_CHARS

HistoryFactory = Callable[[str], BaseChatMessageHistory]


def every_kind_of_message() -> list[BaseMessage]:
    """Messages exercising every field a round trip must keep."""
    return [
        SystemMessage("You are terse.", id="sys-1"),
        HumanMessage(
            content=[
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
            name="ada",
            id="h-1",
            additional_kwargs={"client": {"locale": "de-CH"}},
        ),
        AIMessage(
            content="",
            id="a-1",
            tool_calls=[
                {"name": "lookup", "args": {"q": "cat", "n": 2}, "id": "call_1", "type": "tool_call"}
            ],
            usage_metadata={"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
            response_metadata={"model_name": "scripted", "finish_reason": "tool_calls"},
        ),
        ToolMessage("a cat on a mat", tool_call_id="call_1", artifact={"hits": [1, 2]}, status="success"),
        AIMessage("A cat. 🐈 Ünïcödé and\nnewlines", id="a-2"),
        ChatMessage(content="Looks fine.", role="critic"),
        FunctionMessage(content='{"ok": true}', name="legacy_fn"),
        AIMessageChunk(content="partial", id="chunk-1"),
        HumanMessage("ok"),
        HumanMessage("ok"),  # identical messages are both kept
    ]


@pytest.fixture(params=["in_memory", "memtrace-embedded", "memtrace-remote"])
def history_factory(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[HistoryFactory]:
    """A way to get "the history for a key", as an app passes one to RunnableWithMessageHistory: LangChain's
    reference (one in-memory object per key) or ours (a new object per call, state in memtrace)."""
    if request.param == "in_memory":
        histories: dict[str, InMemoryChatMessageHistory] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # InMemoryChatMessageHistory warns that it is deprecated
            yield lambda key: histories.setdefault(key, InMemoryChatMessageHistory())
        return
    if request.param == "memtrace-remote":
        server = request.getfixturevalue("live_server")
        client = Memtrace(server.base_url, server.api_key)
    else:
        client = Memtrace.open(data_dir)
    agent, suffix = f"lc-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex[:8]
    yield lambda key: MemtraceChatMessageHistory(f"{key}-{suffix}", client=client, agent_id=agent)
    client.close()


# --- the same behaviour as the reference implementation ------------------------------------------------------


def test_a_new_history_is_empty(history_factory: HistoryFactory) -> None:
    assert history_factory("empty").messages == []


def test_every_message_comes_back_exactly_and_in_order(history_factory: HistoryFactory) -> None:
    messages = every_kind_of_message()
    history_factory("s").add_messages(messages)
    got = history_factory("s").messages
    assert got == messages
    assert [type(m) for m in got] == [type(m) for m in messages]


def test_messages_added_one_at_a_time_keep_their_order(history_factory: HistoryFactory) -> None:
    history = history_factory("s")
    history.add_user_message("first")
    history.add_ai_message("second")
    history.add_message(HumanMessage("third"))
    for i in range(50):  # a burst, many within one millisecond
        history.add_message(HumanMessage(f"burst {i}"))
    texts = [m.text for m in history_factory("s").messages]
    assert texts == ["first", "second", "third", *[f"burst {i}" for i in range(50)]]


def test_histories_with_different_keys_are_independent(history_factory: HistoryFactory) -> None:
    history_factory("a").add_user_message("for a")
    history_factory("b").add_user_message("for b")
    assert [m.text for m in history_factory("a").messages] == ["for a"]
    assert [m.text for m in history_factory("b").messages] == ["for b"]


def test_clear_empties_the_history_and_it_can_be_used_again(history_factory: HistoryFactory) -> None:
    history = history_factory("s")
    history.add_messages([HumanMessage("hi"), AIMessage("hello")])
    history_factory("other").add_user_message("stays")
    history.clear()
    assert history_factory("s").messages == []
    assert [m.text for m in history_factory("other").messages] == ["stays"]
    history.add_user_message("again")
    assert [m.text for m in history_factory("s").messages] == ["again"]


def test_adding_no_messages_changes_nothing(history_factory: HistoryFactory) -> None:
    history = history_factory("s")
    history.add_messages([])
    assert history.messages == []


async def test_async_methods_behave_like_the_sync_ones(history_factory: HistoryFactory) -> None:
    history = history_factory("s")
    messages = every_kind_of_message()
    await history.aadd_messages(messages[:4])
    await history.aadd_messages(messages[4:])
    assert await history.aget_messages() == messages
    await history.aclear()
    assert await history.aget_messages() == []


def test_a_chain_with_history_remembers_earlier_turns(history_factory: HistoryFactory) -> None:
    replies = three_turn_chat(history_factory, "chat")
    # The model saw the system prompt, the earlier turns and the new input each time.
    assert replies == [
        "saw 2 messages; last: My name is Ada.",
        "saw 4 messages; last: I like tea.",
        "saw 6 messages; last: What do I like?",
    ]
    assert [m.type for m in history_factory("chat").messages] == ["human", "ai"] * 3


def three_turn_chat(history_factory: HistoryFactory, key: str) -> list[str]:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a helpful assistant."), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RunnableWithMessageHistory warns that it is deprecated
        chain = RunnableWithMessageHistory(
            prompt | EchoChatModel(),
            history_factory,
            input_messages_key="input",
            history_messages_key="history",
        )
    config: Any = {"configurable": {"session_id": key}}
    return [
        chain.invoke({"input": text}, config=config).text
        for text in ("My name is Ada.", "I like tea.", "What do I like?")
    ]


# --- what persistence in memtrace adds -----------------------------------------------------------------------


def test_a_fresh_client_reads_back_the_identical_conversation(
    open_client: Callable[[], Memtrace], unique
) -> None:
    agent, key = unique("agent"), unique("chat")
    writer = open_client()
    three_turn_chat(lambda k: MemtraceChatMessageHistory(k, client=writer, agent_id=agent), key)
    written = MemtraceChatMessageHistory(key, client=writer, agent_id=agent).messages

    reader = open_client()
    read = MemtraceChatMessageHistory(key, client=reader, agent_id=agent).messages
    assert read == written
    assert [m.text for m in read] == [
        "My name is Ada.",
        "saw 2 messages; last: My name is Ada.",
        "I like tea.",
        "saw 4 messages; last: I like tea.",
        "What do I like?",
        "saw 6 messages; last: What do I like?",
    ]


@pytest.mark.parametrize(
    "key",
    [
        "0b7a2c6e-1d2f-4c3b-9a8e-7f6d5c4b3a21",  # a UUID starting with a digit
        "ada.lovelace+chat@example.com",
        "user 42 / thread #7",
        "ünïcødé-キー",
        "x" * 300,
        "plain_valid-id",
    ],
)
def test_any_session_key_works_and_maps_deterministically(client: Memtrace, unique, key: str) -> None:
    agent = unique("agent")
    history = MemtraceChatMessageHistory(key, client=client, agent_id=agent)
    history.add_messages([HumanMessage("hello"), AIMessage("hi")])

    assert history.memtrace_session_id == id_for_key(key)
    if key == "plain_valid-id":
        assert history.memtrace_session_id == key  # valid ids are used as they are
    again = MemtraceChatMessageHistory(key, client=client, agent_id=agent)
    assert [m.text for m in again.messages] == ["hello", "hi"]

    # The session row keeps the original key, so an app can find its conversation by listing sessions.
    [session] = client.list_sessions(agent_id=agent).sessions
    assert session.id == history.memtrace_session_id
    assert session.metadata is not None and session.metadata["key"] == key


def test_messages_are_searchable_session_memories(client: Memtrace, unique) -> None:
    agent = unique("agent")
    history = MemtraceChatMessageHistory("user@example.com", client=client, agent_id=agent)
    history.add_messages(every_kind_of_message())

    memories = client.list_memories(ListOptions(agent_id=agent, order="asc", limit=100)).memories
    assert {m.memory_type for m in memories} == {"session"}
    assert {m.session_id for m in memories} == {history.memtrace_session_id}
    assert [m.event_type for m in memories] == [
        "system_message",
        "human_message",
        "ai_message",
        "tool_message",
        "ai_message",
        "chat_message",
        "function_message",
        "ai_message_chunk",
        "human_message",
        "human_message",
    ]
    # Content is the plain text (tool calls spelled out), which is what keyword search ranks.
    assert memories[1].content == "What is in this picture?"
    assert "lookup" in memories[2].content and '"q": "cat"' in memories[2].content

    hits = client.search_memories(SearchQuery(query="picture", agent_id=agent, limit=3)).results
    assert hits[0].id == memories[1].id


def test_clear_keeps_other_memories_of_the_same_session(client: Memtrace, unique) -> None:
    agent = unique("agent")
    history = MemtraceChatMessageHistory("s", client=client, agent_id=agent)
    history.add_messages([HumanMessage("hi"), AIMessage("hello")])
    fact = client.add_memory(
        AddMemoryRequest(agent_id=agent, session_id=history.memtrace_session_id, content="Ada likes tea")
    )
    history.clear()
    assert history.messages == []
    assert client.get_memory(fact.id).content == "Ada likes tea"


def test_clear_deletes_only_this_agents_messages(client: Memtrace, unique) -> None:
    key = unique("shared-key")
    mine = MemtraceChatMessageHistory(key, client=client, agent_id=unique("mine"))
    theirs = MemtraceChatMessageHistory(key, client=client, agent_id=unique("theirs"))
    mine.add_user_message("mine")
    theirs.add_user_message("theirs")
    mine.clear()
    assert mine.messages == []
    assert [m.text for m in theirs.messages] == ["theirs"]


def test_a_batch_with_an_unstorable_message_writes_nothing(client: Memtrace, unique) -> None:
    history = MemtraceChatMessageHistory("s", client=client, agent_id=unique("agent"))
    history.add_user_message("before")
    # JSON cannot carry these exactly; embedded and remote refuse them alike, naming the message.
    for payload in (float("nan"), object()):
        bad = HumanMessage("not JSON", additional_kwargs={"payload": payload})
        with pytest.raises(ValidationError) as err:
            history.add_messages([HumanMessage("would be lost"), bad])
        assert err.value.field == "messages[1]"
    assert [m.text for m in history.messages] == ["before"]


def test_a_very_long_message_round_trips_exactly(client: Memtrace, unique) -> None:
    agent = unique("agent")
    text = "lorem ipsum dolor " * 20_000  # 360,000 characters
    history = MemtraceChatMessageHistory("s", client=client, agent_id=agent)
    history.add_messages([HumanMessage(text), AIMessage("short")])
    assert [m.text for m in history.messages] == [text, "short"]
    # Only the searchable copy in `content` is cut while the message fits memtrace's metadata bound; past it,
    # the text is kept whole in `content` instead.
    longest = max(len(m.content) for m in client.list_memories(ListOptions(agent_id=agent)).memories)
    assert longest == (len(text) if len(text) > MAX_METADATA_BYTES else MAX_CONTENT_CHARS)
    assert [m.text for m in MemtraceChatMessageHistory("s", client=client, agent_id=agent).messages] == [
        text,
        "short",
    ]


def test_a_message_too_large_even_without_its_text_is_refused_whole(client: Memtrace, unique) -> None:
    agent = unique("agent")
    history = MemtraceChatMessageHistory("s", client=client, agent_id=agent)
    huge = AIMessage("hi", additional_kwargs={"blob": "x" * (MAX_METADATA_BYTES + 1000)})
    with pytest.raises(ValidationError) as err:
        history.add_messages([HumanMessage("first"), huge])
    assert err.value.field == "messages[1]"
    assert history.messages == []  # nothing of that call was written


def test_a_long_history_is_read_back_whole(client: Memtrace, unique) -> None:
    history = MemtraceChatMessageHistory("long", client=client, agent_id=unique("agent"))
    history.add_messages([HumanMessage(f"m{i}") for i in range(2500)])  # more than one page (1000)
    assert [m.text for m in history.messages] == [f"m{i}" for i in range(2500)]


def test_a_bad_agent_id_is_rejected_naming_the_field(embedded_client: Memtrace) -> None:
    with pytest.raises(ValidationError) as err:
        MemtraceChatMessageHistory("s", client=embedded_client, agent_id="1-starts-with-a-digit")
    assert err.value.field == "agent_id"


def test_a_non_client_is_rejected() -> None:
    with pytest.raises(TypeError, match="client"):
        MemtraceChatMessageHistory("s", client="http://localhost:9100")  # type: ignore[arg-type]


def test_default_client_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMTRACE_URL", raising=False)
    monkeypatch.delenv("MEMTRACE_API_KEY", raising=False)
    monkeypatch.setenv("MEMTRACE_DATA_DIR", str(tmp_path / "env-data"))
    history = MemtraceChatMessageHistory("s")
    history.add_user_message("stored where the environment says")
    history.close()
    with Memtrace.open(tmp_path / "env-data") as client:
        assert [m.text for m in MemtraceChatMessageHistory("s", client=client).messages] == [
            "stored where the environment says"
        ]


# --- AsyncMemtrace -------------------------------------------------------------------------------------------


async def test_native_async_with_an_async_client(
    open_async_client: Callable[[], AsyncMemtrace], unique
) -> None:
    agent = unique("agent")
    history = MemtraceChatMessageHistory("0f-async@example.com", client=open_async_client(), agent_id=agent)
    messages = every_kind_of_message()
    # Concurrent tasks on one loop: nothing blocks, and each add lands whole.
    await asyncio.gather(history.aadd_messages(messages[:5]), asyncio.sleep(0))
    await history.aadd_messages(messages[5:])

    fresh = MemtraceChatMessageHistory("0f-async@example.com", client=open_async_client(), agent_id=agent)
    assert await fresh.aget_messages() == messages
    await fresh.aclear()
    assert await history.aget_messages() == []


def test_an_async_client_also_serves_the_sync_methods(async_client: AsyncMemtrace) -> None:
    """Through memtrace's one sync/async bridge: sync code (e.g. a sync chain) works with an AsyncMemtrace."""
    history = MemtraceChatMessageHistory("s", client=async_client)
    history.add_user_message("x")
    assert history.messages == [HumanMessage(content="x")]
    history.clear()
    assert history.messages == []


async def test_async_chain_with_an_async_client(
    open_async_client: Callable[[], AsyncMemtrace], unique
) -> None:
    agent, client = unique("agent"), open_async_client()
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{input}")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chain = RunnableWithMessageHistory(
            prompt | EchoChatModel(),
            lambda key: MemtraceChatMessageHistory(key, client=client, agent_id=agent),
            input_messages_key="input",
            history_messages_key="history",
        )
    config: Any = {"configurable": {"session_id": "async-chat"}}
    first = await chain.ainvoke({"input": "one"}, config=config)
    second = await chain.ainvoke({"input": "two"}, config=config)
    assert (first.text, second.text) == ("saw 1 messages; last: one", "saw 3 messages; last: two")
