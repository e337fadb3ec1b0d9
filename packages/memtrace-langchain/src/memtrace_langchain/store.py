"""`MemtraceStore`: LangGraph's long-term memory store (`langgraph.store.base.BaseStore`) on memtrace.

Needs the extra ``memtrace-langchain[langgraph]``. The layout of items as memories is in `_store_mapping`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from memtrace import ListOptions, Memory, MemoryList, Memtrace, SearchQuery, check_id
from memtrace.bridge import AnyMemtrace, ClientBridge, Plan, Together, concurrently
from memtrace.operations import AddMemories, DeleteMemories, ListMemories, SearchMemories
from memtrace.paging import read_memories

from ._blocking import BlockingCallInEventLoopError
from ._store_mapping import (
    EVENT_TYPE,
    check_namespace,
    item_from_memory,
    item_request,
    key_tag,
    matches_filter,
    namespace_session_id,
    prefix_tag,
    stored,
)

PAGE_SIZE = 1000
"""memtrace's largest page."""
FIRST_PAGE = 20
"""The smallest first page of a search's unranked listing."""
VERSIONS_PAGE = 1000
"""Versions of one item deleted per call (every version goes when an item is deleted)."""

Versions = list[tuple[Memory, dict[str, Any]]]


class MemtraceStore(BaseStore):
    """LangGraph long-term memory stored in memtrace.

    Pass it where LangGraph takes a store, e.g. ``create_agent(model, tools, store=MemtraceStore(client))``;
    tools reach it through ``runtime.store``.

    - ``put``/``get``/``delete``/``search``/``list_namespaces`` behave as LangGraph's own stores do.
    - ``search(prefix, query=...)`` ranks by memtrace keyword search (BM25 over the item's text, see `fields`):
      items that match come first with a ``score``; the rest of the namespace follows, newest first, with
      ``score=0.0`` (as a vector store ranks every item, a search never hides items just for not matching),
      then items put with ``index=False`` (``score=None``, as in `InMemoryStore`).
      Without a query, items come newest-updated first, like LangGraph's SQL stores. ``filter`` applies to
      the item values with LangGraph's semantics (equality, nested dicts, ``$eq``/``$ne``/``$gt``/``$gte``/
      ``$lt``/``$lte``).
    - ``put(..., index=False)`` stores an item that ranked search does not match (it still comes back from
      ``get`` and unranked or fill results); ``index=["path", ...]`` chooses the fields to index.
    - ``list_namespaces`` reads every item of the store (memtrace has no distinct-namespace query): fine
      for thousands of items, slow for millions.
    - TTLs are not supported (``supports_ttl = False``), like `InMemoryStore`.
    - Within one `batch`, reads see the state before the batch's writes, and the last write to a key wins,
      as in LangGraph's InMemoryStore and SqliteStore.

    Args:
        client: A `memtrace.Memtrace` (serves both sync and async LangGraph calls; async ones run in a worker
            thread) or a `memtrace.AsyncMemtrace` (async only: ``ainvoke``, ``aget``, ``aput``...). Default:
            `memtrace.Memtrace.from_env()`.
        agent_id: The memtrace agent the store's items belong to. Two stores with different agent ids on one
            memtrace are independent.
        memory_type: The memtrace memory type of the items (``entity``: facts about users and things).
        fields: Value paths whose text is indexed for ranked search (LangGraph path syntax, e.g.
            ``["text", "tags[*]"]``), unless a put says otherwise. Default: every scalar in the value.
    """

    supports_ttl = False

    def __init__(
        self,
        client: AnyMemtrace | None = None,
        *,
        agent_id: str = "langgraph",
        memory_type: str = "entity",
        fields: list[str] | None = None,
    ) -> None:
        self._bridge = ClientBridge(Memtrace.from_env() if client is None else client, owner="MemtraceStore")
        self.client: AnyMemtrace = self._bridge.client
        self.agent_id = check_id(agent_id, "agent_id")
        if memory_type not in ("episodic", "session", "decision", "entity"):
            raise ValueError(
                f"MemtraceStore: memory_type must be episodic, session, decision or entity, not {memory_type!r}"
            )
        self.memory_type = memory_type
        self.fields = list(fields) if fields else None

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        if self._bridge.is_async:
            # As LangGraph's own async stores: with an async client, blocking calls belong in other threads.
            BlockingCallInEventLoopError.raise_if_in_loop("MemtraceStore", "abatch/aget/aput/asearch")
        return self._bridge.run(self._batch(list(ops)))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await self._bridge.arun(self._batch(list(ops)))

    def __repr__(self) -> str:
        return f"MemtraceStore(agent_id={self.agent_id!r}, memory_type={self.memory_type!r})"

    # --- plans ----------------------------------------------------------------------------------------------

    def _batch(self, ops: list[Op]) -> Plan[list[Result]]:
        results: list[Result] = [None] * len(ops)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:  # validate everything before any I/O, so a bad op writes nothing
            if isinstance(op, PutOp):
                check_namespace(op.namespace)
                puts[(tuple(op.namespace), str(op.key))] = op  # the last put to a key wins
            elif not isinstance(op, (GetOp, SearchOp, ListNamespacesOp)):
                raise ValueError(f"Unknown operation type: {type(op)}")
        # Every get's lookup at once: independent reads, which a remote async client sends concurrently (one
        # round trip's wait for the batch instead of one each; LangGraph batches thousands).
        gets = [
            (i, namespace, str(op.key))
            for i, op in enumerate(ops)
            if isinstance(op, GetOp) and (namespace := check_namespace(op.namespace, allow_empty=True))
        ]
        if gets:
            pages = yield Together([self._versions_op(namespace, key) for _, namespace, key in gets])
            for (i, namespace, key), page in zip(gets, pages, strict=True):
                versions = self._versions_of(page, namespace, key)
                results[i] = item_from_memory(*versions[0]) if versions else None
        # Searches and namespace listings page through results: run their plans side by side, each round of
        # pages in one go. (A get of namespace () stays None: no item has it.)
        reads = [
            (i, self._search(op) if isinstance(op, SearchOp) else self._list_namespaces(op))
            for i, op in enumerate(ops)
            if isinstance(op, (SearchOp, ListNamespacesOp))
        ]
        if reads:
            answers: list[Any] = yield from concurrently([plan for _, plan in reads])
            for (i, _), answer in zip(reads, answers, strict=True):
                results[i] = answer
        if puts:
            yield from self._apply_puts(list(puts.values()))
        return results

    def _versions(self, namespace: tuple[str, ...], key: str, *, every: bool = False) -> Plan[Versions]:
        """The current memory holding (namespace, key), or with `every` all its versions, newest first."""
        page = yield self._versions_op(namespace, key, every=every)
        return self._versions_of(page, namespace, key)

    def _versions_op(self, namespace: tuple[str, ...], key: str, *, every: bool = False) -> ListMemories:
        """The read behind `_versions`, for plans that hand several over at once."""
        return ListMemories(
            ListOptions(
                agent_id=self.agent_id,
                session_id=namespace_session_id(namespace),
                event_type=EVENT_TYPE,
                tags=[key_tag(key)],
                order="desc",
                limit=VERSIONS_PAGE,
                include_superseded=every or None,
            ),
        )

    @staticmethod
    def _versions_of(page: MemoryList, namespace: tuple[str, ...], key: str) -> Versions:
        """The memories of `page` that really hold (namespace, key)."""
        out: Versions = []
        for memory in page.memories:
            data = stored(memory)
            # The ids and tags are hashes: compare the real namespace and key, so a collision can never
            # return another item.
            if data is not None and tuple(data["namespace"]) == namespace and data["key"] == key:
                out.append((memory, data))
        return out

    def _apply_puts(self, puts: list[PutOp]) -> Plan[None]:
        deleted = [(tuple(op.namespace), str(op.key)) for op in puts if op.value is None]
        writes = [op for op in puts if op.value is not None]
        # Each written item's current version (for its created_at), all looked up at once.
        pages = (
            (yield Together([self._versions_op(tuple(op.namespace), str(op.key)) for op in writes]))
            if writes
            else []
        )
        requests = []
        for op, page in zip(writes, pages, strict=True):
            namespace, key = tuple(op.namespace), str(op.key)
            assert op.value is not None
            versions = self._versions_of(page, namespace, key)
            created_at = None
            if versions:
                newest, data = versions[0]
                created_at = data.get("created_at") or newest.time.isoformat()
            requests.append(
                item_request(
                    agent_id=self.agent_id,
                    memory_type=self.memory_type,
                    namespace=namespace,
                    key=key,
                    value=op.value,
                    index=op.index,
                    default_fields=self.fields,
                    created_at=created_at,
                )
            )
        if requests:
            # One all-or-nothing write for the whole batch: each item's new version supersedes its current one
            # in the same transaction, so no reader ever sees two values of an item, or none.
            yield AddMemories(requests)
        # A deleted item loses every version (its history too), 1,000 at a time.
        for namespace, key in deleted:
            while versions := (yield from self._versions(namespace, key, every=True)):
                yield DeleteMemories(agent_id=self.agent_id, memory_ids=[memory.id for memory, _ in versions])

    def _search(self, op: SearchOp) -> Plan[list[SearchItem]]:
        prefix = check_namespace(op.namespace_prefix, allow_empty=True)
        wanted = max(op.offset, 0) + max(op.limit, 0)
        tags = [prefix_tag(prefix)] if prefix else None
        found: list[SearchItem] = []
        seen: set[tuple[tuple[str, ...], str]] = set()

        def admit(memory: Memory, data: dict[str, Any], score: float | None) -> None:
            ident = (tuple(data["namespace"]), data["key"])
            if ident in seen or ident[0][: len(prefix)] != prefix:
                return
            seen.add(ident)  # first sighting is the newest version (or the best ranked)
            item = item_from_memory(memory, data)
            if matches_filter(item.value, op.filter):
                found.append(
                    SearchItem(item.namespace, item.key, item.value, item.created_at, item.updated_at, score)
                )

        query = (op.query or "").strip()
        if query and wanted:
            page_size = min(PAGE_SIZE, max(50, 2 * wanted))
            offset = 0
            while len(found) < wanted:
                page = yield SearchMemories(
                    SearchQuery(
                        query=query,
                        agent_id=self.agent_id,
                        event_types=[EVENT_TYPE],
                        tags=tags,
                        limit=page_size,
                        offset=offset,
                    ),
                )
                for memory in page.results:
                    data = stored(memory)
                    if data is not None and data.get("indexed", True):
                        admit(memory, data, memory.score)
                if len(page.results) < page_size:
                    break
                offset += len(page.results)
            # The unmatched rest follows, newest first (`seen` keeps what ranked search returned out of it).

        # Pages sized to what is still wanted, growing while a filter or items already ranked above skip
        # most of them: a search for 10 items used to fetch (and decode) up to 1,000 memories.
        # With a query, an indexed item that did not match scores 0.0 (a vector store gives every indexed item
        # a number, and callers compare them); items put with index=False stay unscored (None) and come last,
        # as in LangGraph's InMemoryStore. Without a query nothing is scored.
        unmatched_score = 0.0 if query else None
        unindexed: list[tuple[Memory, dict[str, Any]]] = []
        offset = 0
        remaining = wanted - len(found)
        # Without a filter and with nothing ranked yet, every listed memory is an item (only current versions
        # are listed): ask for just what is wanted.
        first = remaining if not op.filter and not seen else max(FIRST_PAGE, 2 * remaining)
        page_size = min(PAGE_SIZE, max(first, 1))
        while len(found) < wanted:
            page = yield ListMemories(
                ListOptions(
                    agent_id=self.agent_id,
                    event_type=EVENT_TYPE,
                    tags=tags,
                    order="desc",
                    limit=page_size,
                    offset=offset,
                ),
            )
            for memory in page.memories:
                data = stored(memory)
                if data is None:
                    continue
                if query and not data.get("indexed", True):
                    if len(unindexed) < wanted:
                        unindexed.append((memory, data))
                else:
                    admit(memory, data, unmatched_score)
            if not page.has_more or not page.memories:
                break
            offset += len(page.memories)
            page_size = min(PAGE_SIZE, 4 * page_size)
        for memory, data in unindexed:
            if len(found) >= wanted:
                break
            admit(memory, data, None)
        return found[op.offset : op.offset + op.limit]

    def _list_namespaces(self, op: ListNamespacesOp) -> Plan[list[tuple[str, ...]]]:
        conditions = tuple(op.match_conditions or ())
        # A prefix without wildcards narrows the scan to items carrying its tag.
        tags = [
            prefix_tag(tuple(c.path))
            for c in conditions
            if c.match_type == "prefix" and c.path and "*" not in c.path
        ]
        namespaces: set[tuple[str, ...]] = set()
        every = yield from read_memories(
            ListOptions(agent_id=self.agent_id, event_type=EVENT_TYPE, tags=tags or None, order="asc")
        )
        for memory in every:
            data = stored(memory)
            if data is not None:
                namespaces.add(tuple(data["namespace"]))
        selected = [ns for ns in namespaces if all(_matches(c, ns) for c in conditions)]
        if op.max_depth is not None:
            selected = list({ns[: op.max_depth] for ns in selected})
        return sorted(selected)[op.offset : op.offset + op.limit]


def _matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """LangGraph's namespace match: a prefix or suffix of labels, ``*`` matching any one label."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ValueError(f"Unsupported match type: {condition.match_type}")
    return all(p == "*" or n == p for n, p in pairs)


__all__ = ["MemtraceStore"]
