"""MemtraceStore: the same behaviour as LangGraph's InMemoryStore, persisted in memtrace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain.tools import ToolRuntime, tool
from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langchain_helpers import scripted
from langgraph.store.base import BaseStore, GetOp, InvalidNamespaceError, Item, PutOp
from langgraph.store.memory import InMemoryStore

from memtrace import AsyncMemtrace, ListOptions, Memtrace, ValidationError, id_for_key
from memtrace_langchain import MemtraceStore


@pytest.fixture(params=["in_memory", "memtrace-embedded", "memtrace-remote"])
def store(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[BaseStore]:
    """LangGraph's reference store, or ours (a store agent of its own, as tests share a remote server)."""
    if request.param == "in_memory":
        yield InMemoryStore()
        return
    if request.param == "memtrace-remote":
        server = request.getfixturevalue("live_server")
        client = Memtrace(server.base_url, server.api_key)
    else:
        client = Memtrace.open(data_dir)
    yield MemtraceStore(client, agent_id=f"store-{uuid.uuid4().hex[:12]}")
    client.close()


def keys(items: list[Any]) -> set[tuple[tuple[str, ...], str]]:
    return {(item.namespace, item.key) for item in items}


# --- the same behaviour as the reference implementation ------------------------------------------------------


def test_put_then_get_returns_the_value(store: BaseStore) -> None:
    value = {
        "text": "Ada likes tea",
        "n": 3,
        "ratio": 0.5,
        "ok": True,
        "none": None,
        "nested": {"list": [1, "two", {"three": 3}]},
        "ünï": "cödé 🐈",
    }
    store.put(("users", "u1"), "prefs", value)
    item = store.get(("users", "u1"), "prefs")
    assert item is not None
    assert (item.namespace, item.key, item.value) == (("users", "u1"), "prefs", value)
    assert isinstance(item.created_at, datetime) and item.created_at.tzinfo is not None
    assert isinstance(item.updated_at, datetime) and item.updated_at.tzinfo is not None


def test_get_of_a_missing_key_is_none(store: BaseStore) -> None:
    store.put(("users", "u1"), "prefs", {"theme": "dark"})
    assert store.get(("users", "u1"), "other") is None
    assert store.get(("users",), "prefs") is None  # the namespace must match exactly
    assert store.get((), "prefs") is None


def test_put_overwrites_and_delete_removes(store: BaseStore) -> None:
    store.put(("users", "u1"), "prefs", {"theme": "dark"})
    first = store.get(("users", "u1"), "prefs")
    store.put(("users", "u1"), "prefs", {"theme": "light"})
    second = store.get(("users", "u1"), "prefs")
    assert first is not None and second is not None
    assert second.value == {"theme": "light"}
    assert second.updated_at >= first.updated_at
    assert len(store.search(("users", "u1"))) == 1  # an update is not a second item

    store.delete(("users", "u1"), "prefs")
    assert store.get(("users", "u1"), "prefs") is None
    assert store.search(("users", "u1")) == []
    store.delete(("users", "u1"), "prefs")  # deleting what is not there is fine


def test_search_matches_whole_namespace_labels_as_prefix(store: BaseStore) -> None:
    store.put(("users", "u1"), "a", {"v": 1})
    store.put(("users", "u1", "notes"), "b", {"v": 2})
    store.put(("users", "u2"), "c", {"v": 3})
    store.put(("usersx",), "d", {"v": 4})
    store.put(("docs",), "e", {"v": 5})
    assert keys(store.search(("users",))) == {
        (("users", "u1"), "a"),
        (("users", "u1", "notes"), "b"),
        (("users", "u2"), "c"),
    }
    assert keys(store.search(("users", "u1"))) == {(("users", "u1"), "a"), (("users", "u1", "notes"), "b")}
    assert keys(store.search(("users", "u1", "notes"))) == {(("users", "u1", "notes"), "b")}
    assert store.search(("use",)) == []
    assert len(store.search((), limit=100)) == 5


def test_search_filters_on_values(store: BaseStore) -> None:
    ns = ("items",)
    store.put(ns, "a", {"kind": "fruit", "score": 3, "tags": ["red", "sweet"], "origin": {"country": "CH"}})
    store.put(ns, "b", {"kind": "fruit", "score": 8, "tags": ["green"], "origin": {"country": "IT"}})
    store.put(ns, "c", {"kind": "veg", "score": 5, "tags": ["green"], "origin": {"country": "CH"}})

    def found(flt: dict[str, Any]) -> set[str]:
        return {item.key for item in store.search(ns, filter=flt)}

    assert found({"kind": "fruit"}) == {"a", "b"}
    assert found({"kind": "fruit", "score": 8}) == {"b"}
    assert found({"score": {"$gt": 3}}) == {"b", "c"}
    assert found({"score": {"$gte": 3, "$lt": 8}}) == {"a", "c"}
    assert found({"score": {"$lte": 5}}) == {"a", "c"}
    assert found({"kind": {"$ne": "fruit"}}) == {"c"}
    assert found({"kind": {"$eq": "veg"}}) == {"c"}
    assert found({"origin": {"country": "CH"}}) == {"a", "c"}
    assert found({"tags": ["green"]}) == {"b", "c"}
    assert found({"kind": "mineral"}) == set()


def test_search_pages_with_limit_and_offset(store: BaseStore) -> None:
    ns = ("pages",)
    for i in range(7):
        store.put(ns, f"k{i}", {"i": i})
    pages = [store.search(ns, limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    seen = [key for page in pages for key in keys(page)]
    assert len(seen) == len(set(seen)) == 7
    assert len(store.search(ns)) == 7  # default limit is 10


def test_a_filter_finds_items_listed_far_past_the_first_page(store: BaseStore) -> None:
    """Search pages are sized to what is wanted: a filter that skips most items must still reach the rest."""
    ns = ("sparse",)
    store.batch([PutOp(ns, f"k{i}", {"i": i, "rare": i in (0, 1)}) for i in range(120)])
    assert keys(store.search(ns, filter={"rare": True}, limit=2)) == {(ns, "k0"), (ns, "k1")}
    assert len(store.search(ns, limit=3, offset=118)) == 2


def test_a_query_never_hides_items(store: BaseStore) -> None:
    """Without embeddings InMemoryStore ignores the query; ours ranks by it. Either way every item of the
    namespace comes back, as a vector store ranks every item."""
    ns = ("notes",)
    store.put(ns, "tea", {"text": "Ada likes green tea"})
    store.put(ns, "code", {"text": "Ada writes Python"})
    store.put(ns, "blob", {"bytes": "..."}, index=False)
    assert keys(store.search(ns, query="green tea", limit=10)) == {(ns, "tea"), (ns, "code"), (ns, "blob")}
    assert len(store.search(ns, query="green tea", limit=2)) == 2


def test_list_namespaces(store: BaseStore) -> None:
    for ns in [("a", "b", "c"), ("a", "b", "d"), ("a", "e"), ("x", "b", "c"), ("x",)]:
        store.put(ns, "k", {"v": 1})
    assert store.list_namespaces() == [("a", "b", "c"), ("a", "b", "d"), ("a", "e"), ("x",), ("x", "b", "c")]
    assert store.list_namespaces(prefix=("a",)) == [("a", "b", "c"), ("a", "b", "d"), ("a", "e")]
    assert store.list_namespaces(prefix=("a", "b")) == [("a", "b", "c"), ("a", "b", "d")]
    assert store.list_namespaces(suffix=("c",)) == [("a", "b", "c"), ("x", "b", "c")]
    assert store.list_namespaces(prefix=("*", "b")) == [("a", "b", "c"), ("a", "b", "d"), ("x", "b", "c")]
    assert store.list_namespaces(prefix=("a",), suffix=("d",)) == [("a", "b", "d")]
    assert store.list_namespaces(max_depth=2) == [("a", "b"), ("a", "e"), ("x",), ("x", "b")]
    assert store.list_namespaces(max_depth=1) == [("a",), ("x",)]
    assert store.list_namespaces(limit=2, offset=1) == [("a", "b", "d"), ("a", "e")]


def test_reads_in_a_batch_see_the_state_before_its_writes(store: BaseStore) -> None:
    ns = ("batch",)
    store.put(ns, "k", {"v": 1})
    results = store.batch(
        [PutOp(ns, "k", {"v": 2}), GetOp(ns, "k"), PutOp(ns, "k", {"v": 3}), GetOp(ns, "new")]
    )
    assert results[0] is None and results[2] is None and results[3] is None
    assert isinstance(results[1], Item) and results[1].value == {"v": 1}
    item = store.get(ns, "k")
    assert item is not None and item.value == {"v": 3}  # the last write to a key wins


async def test_async_methods(store: BaseStore) -> None:
    ns = ("async", "u1")
    await store.aput(ns, "a", {"text": "alpha"})
    await store.aput(ns, "b", {"text": "beta"})
    item = await store.aget(ns, "a")
    assert item is not None and item.value == {"text": "alpha"}
    assert keys(await store.asearch(("async",))) == {(ns, "a"), (ns, "b")}
    assert await store.alist_namespaces(prefix=("async",)) == [ns]
    await store.adelete(ns, "a")
    assert await store.aget(ns, "a") is None


@pytest.mark.parametrize("namespace", [("",), ("a.b",), ("langgraph", "x"), ()])
def test_invalid_namespaces_are_rejected(store: BaseStore, namespace: tuple[str, ...]) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {"v": 1})


def test_ttl_is_not_supported(store: BaseStore) -> None:
    with pytest.raises(NotImplementedError):
        store.put(("ttl",), "k", {"v": 1}, ttl=5)


# --- what memtrace adds ---------------------------------------------------------------------------------------


@pytest.fixture
def mt_store(client: Memtrace, unique: Callable[[str], str]) -> MemtraceStore:
    return MemtraceStore(client, agent_id=unique("store"))


def test_query_ranks_matching_items_first(mt_store: MemtraceStore) -> None:
    ns = ("memories", "u1")
    mt_store.put(ns, "tea", {"text": "Ada likes green tea in the morning"})
    mt_store.put(ns, "coffee", {"text": "Ada dislikes coffee"})
    mt_store.put(ns, "code", {"text": "Ada writes Python"})
    mt_store.put(("memories", "u2"), "tea", {"text": "Bob likes green tea too"})  # another user

    results = mt_store.search(ns, query="green tea")
    assert results[0].key == "tea"
    assert results[0].score is not None and results[0].score > 0
    # The rest of the namespace follows, newest first, scored 0.0 (as a vector store scores every indexed item).
    assert [(r.key, r.score) for r in results[1:]] == [("code", 0.0), ("coffee", 0.0)]
    assert [r.key for r in mt_store.search(ns, query="coffee", limit=1)] == ["coffee"]


def test_index_controls_what_ranked_search_matches(client: Memtrace, unique: Callable[[str], str]) -> None:
    store = MemtraceStore(client, agent_id=unique("store"), fields=["title"])
    ns = ("docs",)
    store.put(ns, "by-default", {"title": "Quarterly report", "body": "revenue grew"})
    store.put(ns, "by-put", {"title": "Minutes", "body": "revenue discussion"}, index=["body"])
    store.put(ns, "unindexed", {"title": "Quarterly revenue"}, index=False)

    def ranked(query: str) -> list[str]:
        return [r.key for r in store.search(ns, query=query) if r.score]

    assert ranked("quarterly") == ["by-default"]  # not "unindexed", though its title says so
    assert ranked("revenue") == ["by-put"]  # "by-default" indexes only its title
    item = store.get(ns, "unindexed")
    assert item is not None and item.value == {"title": "Quarterly revenue"}


def test_query_scores_compare_like_a_vector_stores(mt_store: MemtraceStore) -> None:
    """With a query, every indexed item has a float score (callers sort and threshold them, as LangGraph's own
    suites do); only items put with index=False are unscored, and they come last, as in InMemoryStore."""
    ns = ("test",)
    mt_store.put(ns, "doc1", {"text": "zany zebra Xerxes"})
    mt_store.put(ns, "doc2", {"text": "something about dogs"})
    mt_store.put(ns, "doc4", {"text": "zany dogs"}, index=False)
    mt_store.put(ns, "doc3", {"text": "text about birds"})

    results = mt_store.search(ns, query="Zany Xerxes")
    assert [r.key for r in results] == ["doc1", "doc3", "doc2", "doc4"]
    assert [r.score is None for r in results] == [False, False, False, True]
    assert results[1].score == results[2].score == 0.0
    assert results[0].score is not None and results[0].score > 0.0
    scored = [r for r in results if r.score is not None]
    assert max(scored, key=lambda r: r.score or 0.0).key == "doc1"
    # doc1 no longer matches once rewritten: its score drops below the one it had.
    mt_store.put(ns, "doc1", {"text": "new text about dogs"})
    after = {r.key: r.score for r in mt_store.search(ns, query="Zany Xerxes")}
    assert after["doc1"] == 0.0 and after["doc4"] is None
    # Without a query nothing is scored.
    assert {r.score for r in mt_store.search(ns)} == {None}


def test_search_combines_query_filter_and_offset(mt_store: MemtraceStore) -> None:
    ns = ("tickets",)
    for i in range(6):
        mt_store.put(ns, f"t{i}", {"text": f"printer jam number {i}", "open": i % 2 == 0})
    mt_store.put(ns, "other", {"text": "password reset", "open": True})
    hits = mt_store.search(ns, query="printer jam", filter={"open": True}, limit=10)
    assert {h.key for h in hits} == {"t0", "t2", "t4", "other"}
    assert [bool(h.score) for h in hits] == [True, True, True, False]
    page = mt_store.search(ns, query="printer jam", filter={"open": True}, limit=2, offset=2)
    assert [h.key for h in page] == [h.key for h in hits[2:4]]


def test_created_at_is_kept_across_updates(mt_store: MemtraceStore) -> None:
    ns = ("users", "u1")
    mt_store.put(ns, "prefs", {"theme": "dark"})
    first = mt_store.get(ns, "prefs")
    mt_store.put(ns, "prefs", {"theme": "light"})
    second = mt_store.get(ns, "prefs")
    assert first is not None and second is not None
    assert second.created_at == first.created_at  # like LangGraph's SQL stores
    assert second.updated_at > first.updated_at


def test_items_persist_for_a_fresh_client(
    open_client: Callable[[], Memtrace], unique: Callable[[str], str]
) -> None:
    agent = unique("store")
    writer = MemtraceStore(open_client(), agent_id=agent)
    writer.put(("users", "0f4c2b1a-9d8e ada@example"), "profile", {"name": "Ada", "langs": ["en", "fr"]})
    writer.put(("users", "0f4c2b1a-9d8e ada@example"), "key with spaces/ü", {"v": 1})

    reader = MemtraceStore(open_client(), agent_id=agent)
    item = reader.get(("users", "0f4c2b1a-9d8e ada@example"), "profile")
    assert item is not None and item.value == {"name": "Ada", "langs": ["en", "fr"]}
    assert reader.list_namespaces() == [("users", "0f4c2b1a-9d8e ada@example")]
    assert {i.key for i in reader.search(("users",))} == {"profile", "key with spaces/ü"}
    # A store with another agent id is another store.
    assert MemtraceStore(open_client(), agent_id=unique("store")).search(("users",)) == []


def test_items_are_readable_memtrace_memories(client: Memtrace, mt_store: MemtraceStore) -> None:
    mt_store.put(("users", "u1"), "prefs", {"theme": "dark", "font": {"size": 14}})
    [memory] = client.list_memories(ListOptions(agent_id=mt_store.agent_id)).memories
    assert memory.session_id == id_for_key("users.u1")
    assert (memory.memory_type, memory.event_type) == ("entity", "store_item")
    assert memory.content == "theme: dark\nfont.size: 14"
    assert memory.metadata is not None
    assert memory.metadata["store"]["value"] == {"theme": "dark", "font": {"size": 14}}
    # An update replaces the memory rather than piling up versions.
    mt_store.put(("users", "u1"), "prefs", {"theme": "light"})
    [memory] = client.list_memories(ListOptions(agent_id=mt_store.agent_id)).memories
    assert memory.content == "theme: light"


def test_a_batch_of_puts_is_one_all_or_nothing_write(mt_store: MemtraceStore) -> None:
    mt_store.put(("b",), "keep", {"v": 1})
    for bad in ({"v": object()}, {"v": float("nan")}):  # JSON cannot carry these exactly
        with pytest.raises(ValidationError) as err:
            mt_store.batch([PutOp(("b",), "keep", {"v": 2}), PutOp(("b",), "bad", bad)])
        assert err.value.field == "value"
    item = mt_store.get(("b",), "keep")
    assert item is not None and item.value == {"v": 1}
    assert mt_store.get(("b",), "bad") is None


async def test_async_client_is_native_and_refuses_blocking_calls(
    open_async_client: Callable[[], AsyncMemtrace], unique: Callable[[str], str]
) -> None:
    store = MemtraceStore(open_async_client(), agent_id=unique("store"))
    await store.aput(("a",), "k", {"text": "async all the way"})
    hits = await store.asearch(("a",), query="async")
    assert [(h.key, h.value) for h in hits] == [("k", {"text": "async all the way"})]
    with pytest.raises(TypeError, match="AsyncMemtrace"):
        store.get(("a",), "k")
    # As LangGraph's async stores: blocking calls inside the loop are an InvalidStateError...
    with pytest.raises(asyncio.InvalidStateError):
        store.put(("a",), "k2", {"text": "never"})


async def test_an_async_client_serves_blocking_calls_from_threads_without_a_loop(
    data_dir: Path, unique: Callable[[str], str]
) -> None:
    """As LangGraph's async stores: a sync tool node runs in a worker thread, and its store calls work.
    (Embedded here; a remote AsyncMemtrace used across event loops is memtrace-core's HTTP backend's part.)"""
    async with AsyncMemtrace.open(data_dir) as client:
        store = MemtraceStore(client, agent_id=unique("store"))
        await store.aput(("a",), "k", {"text": "async all the way"})
        item = await asyncio.to_thread(store.get, ("a",), "k")
        assert item is not None and item.value == {"text": "async all the way"}
        await asyncio.to_thread(store.put, ("a",), "k2", {"text": "from a thread"})
        again = await store.aget(("a",), "k2")
        assert again is not None and again.value == {"text": "from a thread"}


def test_a_dotted_filter_key_is_a_path_into_nested_values(store: BaseStore) -> None:
    """LangGraph's SQLite and PostgreSQL stores read ``user.level`` as a path; a literal key still matches."""
    store.put(("docs",), "nested", {"user": {"access-level": "admin", "123abc": 1}})
    store.put(("docs",), "literal", {"user.access-level": "admin"})
    found = {item.key for item in store.search(("docs",), filter={"user.access-level": "admin"})}
    if isinstance(store, InMemoryStore):
        assert found == {"literal"}  # the in-memory reference only knows literal keys
    else:
        assert found == {"nested", "literal"}
        assert [i.key for i in store.search(("docs",), filter={"user.123abc": 1})] == ["nested"]
        assert store.search(("docs",), filter={"user.missing.deeper": 1}) == []


def test_bad_setup_is_rejected(embedded_client: Memtrace) -> None:
    with pytest.raises(ValueError, match="memory_type"):
        MemtraceStore(embedded_client, memory_type="fact")
    with pytest.raises(TypeError):
        MemtraceStore("http://localhost:9100")  # type: ignore[arg-type]


@tool
def save_memory(fact: str, runtime: ToolRuntime) -> str:
    """Save a fact about the user."""
    assert runtime.store is not None
    user = runtime.config["configurable"]["user_id"]
    runtime.store.put(("memories", user), str(uuid.uuid4()), {"fact": fact})
    return "saved"


@tool
def find_memories(query: str, runtime: ToolRuntime) -> str:
    """Find facts about the user."""
    assert runtime.store is not None
    user = runtime.config["configurable"]["user_id"]
    return "\n".join(
        item.value["fact"] for item in runtime.store.search(("memories", user), query=query, limit=3)
    )


def test_create_agent_with_a_memtrace_store(
    open_client: Callable[[], Memtrace], unique: Callable[[str], str]
) -> None:
    agent_id = unique("store")
    config: Any = {"configurable": {"user_id": "0b7a2c6e-1d2f-4c3b-9a8e-7f6d5c4b3a21"}}
    writer = create_agent(
        scripted(
            AIMessage(
                content="",
                tool_calls=[ToolCall(name="save_memory", args={"fact": "likes green tea"}, id="c1")],
            ),
            AIMessage(
                content="", tool_calls=[ToolCall(name="save_memory", args={"fact": "lives in Bern"}, id="c2")]
            ),
            AIMessage(content="Saved."),
        ),
        tools=[save_memory],
        store=MemtraceStore(open_client(), agent_id=agent_id),
    )
    writer.invoke({"messages": [{"role": "user", "content": "I like green tea and live in Bern."}]}, config)

    reader = create_agent(
        scripted(
            AIMessage(
                content="", tool_calls=[ToolCall(name="find_memories", args={"query": "tea"}, id="c3")]
            ),
            AIMessage(content="You like green tea."),
        ),
        tools=[find_memories],
        store=MemtraceStore(open_client(), agent_id=agent_id),
    )
    out = reader.invoke({"messages": [{"role": "user", "content": "What do I drink?"}]}, config)
    [found] = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert found.text.splitlines() == ["likes green tea", "lives in Bern"]  # the match first


# --- random operation sequences: ours and the reference end in the same state ---------------------------------

NAMESPACES = [("a",), ("a", "b"), ("a", "b", "c"), ("x", "y")]
KEYS = ["k1", "k2", "k 3/ü"]
operation = st.one_of(
    st.tuples(
        st.just("put"),
        st.sampled_from(NAMESPACES),
        st.sampled_from(KEYS),
        st.fixed_dictionaries({"n": st.integers(-5, 5), "kind": st.sampled_from(["tea", "code"])}),
    ),
    st.tuples(st.just("delete"), st.sampled_from(NAMESPACES), st.sampled_from(KEYS), st.none()),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, max_size=12))
def test_random_operations_leave_the_same_state_as_in_memory_store(
    embedded_client: Memtrace, ops: list[tuple[str, tuple[str, ...], str, dict[str, Any] | None]]
) -> None:
    reference = InMemoryStore()
    ours = MemtraceStore(embedded_client, agent_id=f"prop-{uuid.uuid4().hex[:12]}")
    for kind, ns, key, value in ops:
        for store in (reference, ours):
            if kind == "put":
                assert value is not None
                store.put(ns, key, value)
            else:
                store.delete(ns, key)

    def state(store: BaseStore, prefix: tuple[str, ...], flt: dict[str, Any] | None = None) -> dict[Any, Any]:
        return {(i.namespace, i.key): i.value for i in store.search(prefix, filter=flt, limit=100)}

    for ns in NAMESPACES:
        for key in KEYS:
            expected, got = reference.get(ns, key), ours.get(ns, key)
            assert (got.value if got else None) == (expected.value if expected else None)
    for prefix in [(), ("a",), ("a", "b"), ("x",)]:
        assert state(ours, prefix) == state(reference, prefix)
        assert state(ours, prefix, {"kind": "tea"}) == state(reference, prefix, {"kind": "tea"})
        assert state(ours, prefix, {"n": {"$gte": 0}}) == state(reference, prefix, {"n": {"$gte": 0}})
        assert {k for k in state(ours, prefix)} == {
            (i.namespace, i.key) for i in ours.search(prefix, query="tea", limit=100)
        }


# --- items are facts that change ------------------------------------------------------------------------------


def test_an_overwrite_supersedes_and_keeps_history_and_a_delete_removes_every_version(data_dir: Path) -> None:
    from memtrace_langchain._store_mapping import fact_key

    with Memtrace.open(data_dir) as client:
        store = MemtraceStore(client, agent_id="facts-store")
        store.put(("users", "ada"), "home", {"city": "Paris"})
        store.put(("users", "ada"), "home", {"city": "Berlin"})
        item = store.get(("users", "ada"), "home")
        assert item is not None and item.value == {"city": "Berlin"}
        assert [i.value for i in store.search(("users",))] == [{"city": "Berlin"}]
        key = fact_key("facts-store", ("users", "ada"), "home")
        versions = client.fact_history(key).memories
        assert [(v.metadata or {})["store"]["value"] for v in versions] == [
            {"city": "Paris"},
            {"city": "Berlin"},
        ]
        assert versions[0].superseded_by == versions[1].id
        # Only current versions are read: one memory listed for the item, whatever its history.
        assert len(client.list_memories(ListOptions(agent_id="facts-store")).memories) == 1
        store.delete(("users", "ada"), "home")
        assert store.get(("users", "ada"), "home") is None
        assert client.fact_history(key).memories == []
        assert (
            client.list_memories(ListOptions(agent_id="facts-store", include_superseded=True)).memories == []
        )
