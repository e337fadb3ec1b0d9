"""`MemtraceStorage`: CrewAI's memory `StorageBackend`, kept in memtrace.

CrewAI's `StorageBackend.search` receives only a query embedding, never the text. So this backend serves two
callers:

- CrewAI's own `Memory` (for example through `use_memtrace_storage`): records keep their embedding in memtrace
  metadata and `search` ranks them by cosine similarity, exactly like a vector store, only durable and shared
  through memtrace;
- `MemtraceMemory`, which has the query text and calls `search_text`: memtrace's ranked keyword search, with no
  embedder and no LLM.

Everything a backend lists, counts or deletes is its *partition*: memories tagged with its namespace (default
``crewai``), and with ``crew.<crew_id>`` when a crew id is given. Other memories in the same memtrace data
directory or server are never touched, even by `reset()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

import numpy as np
from crewai.memory.storage.backend import EmbeddingDimensionMismatchError
from crewai.memory.types import MemoryRecord, ScopeInfo

from memtrace import (
    AddMemoryRequest,
    CreateSessionRequest,
    ListOptions,
    Memory,
    Memtrace,
    MemtraceError,
    NotFoundError,
    SearchQuery,
    check_id,
)
from memtrace.ids import id_for_key
from memtrace.paging import MAX_PAGE_SIZE

from ._client import check_namespace, current_execution_uuid, resolve_client, run_session_id
from ._records import (
    EVENT_TYPE,
    matches,
    memory_to_record,
    record_metadata,
    record_tags,
    to_aware_utc,
    to_naive_utc,
    visible,
)
from ._tags import (
    EMBEDDED_TAG,
    category_tag,
    normalize_scope,
    partition_tag,
    record_id_tag,
    scope_segments,
    scope_tag,
)

PAGE = MAX_PAGE_SIZE


def _under(scope: str, prefix: str | None) -> bool:
    """Whether `scope` is `prefix` or below it, by path (``/crew/res`` is not under ``/crew/research``)."""
    root = normalize_scope(prefix)
    if root == "/":
        return True
    scope = normalize_scope(scope)
    return scope == root or scope.startswith(root + "/")


class MemtraceStorage:
    """A CrewAI memory `StorageBackend` backed by a memtrace client (embedded or remote).

    Args:
        client: a sync `memtrace.Memtrace`; default `Memtrace.from_env()` (closed by `close()`).
        namespace: the tag every record carries; the backend's whole world. Default ``crewai``.
        crew_id: narrows the partition to one crew (tag ``crew.<crew_id>``): two crews with different ids never
            see, count or reset each other's memories, even on one server.
        agent_id: memtrace agent for records that name no agent. Records under a CrewAI agent scope
            (``.../agent/<role>``) are written as that agent. Default: the crew id, else the namespace.
        session_id: memtrace session for every write. Default: one session per crew run (CrewAI's
            execution id), so ``client.get_session_context("run-...")`` shows what a run remembered.
        vector_dim: the embedding size records must have while the partition holds none (as LanceDB's
            ``vector_dim``). Default: the size of the first embedded record saved. Either way, a record whose
            embedding differs in size from the stored ones raises `EmbeddingDimensionMismatchError`.
    """

    def __init__(
        self,
        client: Memtrace | None = None,
        *,
        namespace: str = "crewai",
        crew_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        vector_dim: int | None = None,
    ) -> None:
        if vector_dim is not None and (
            isinstance(vector_dim, bool) or not isinstance(vector_dim, int) or vector_dim < 1
        ):
            raise ValueError("vector_dim must be a positive integer")
        self._client, self._owns_client = resolve_client(client)
        self.namespace = check_namespace(namespace)
        if crew_id is not None and (not isinstance(crew_id, str) or not crew_id.strip()):
            raise ValueError("crew_id must be a non-empty string")
        self.crew_id = crew_id
        self.partition: list[str] = [self.namespace]
        if crew_id is not None:
            self.partition.append(partition_tag("crew", crew_id))
        if agent_id is not None:
            self.agent_id = check_id(agent_id, "agent_id")
        else:
            self.agent_id = id_for_key(crew_id) if crew_id else self.namespace
        self.session_id = check_id(session_id, "session_id") if session_id is not None else None
        self._sessions_created: set[str] = set()
        self._vector_dim: int | None = None  # the partition's embedding size, once seen
        self._declared_dim = vector_dim
        self._lock = threading.Lock()

    @property
    def client(self) -> Memtrace:
        """The memtrace client this backend writes through."""
        return self._client

    def __repr__(self) -> str:
        return f"MemtraceStorage(namespace={self.namespace!r}, crew_id={self.crew_id!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> MemtraceStorage:
        # A backend is a handle on shared memory (and a client connection): CrewAI deep-copies `Memory`
        # objects, and every copy must keep writing to the same place.
        return self

    def __copy__(self) -> MemtraceStorage:
        return self

    # ------------------------------------------------------------------ who and when

    def current_session(self) -> str | None:
        """The session a write belongs to now: the pinned one, else the crew run in progress, else none."""
        if self.session_id is not None:
            self._ensure_session(self.session_id, {})
            return self.session_id
        execution = current_execution_uuid()
        if execution is None:
            return None
        session = run_session_id(execution)
        self._ensure_session(session, {"execution_uuid": execution})
        return session

    def _ensure_session(self, session_id: str, extra: dict[str, Any]) -> None:
        # Memories name their session freely; the row makes the run listable and gives it a context.
        with self._lock:
            if session_id in self._sessions_created:
                return
        metadata: dict[str, Any] = {"source": "crewai", "namespace": self.namespace, **extra}
        if self.crew_id is not None:
            metadata["crew_id"] = self.crew_id
        # exist_ok: another process, client or earlier run may have created it.
        self._client.create_session(
            CreateSessionRequest(id=session_id, agent_id=self.agent_id, metadata=metadata), exist_ok=True
        )
        with self._lock:
            self._sessions_created.add(session_id)

    def _agent_for_scope(self, scope: str) -> str:
        # CrewAI files a crew agent's memories under <root>/agent/<sanitized role>.
        segments = scope_segments(scope)
        for i in range(len(segments) - 2, -1, -1):
            if segments[i] == "agent":
                return id_for_key(segments[i + 1])
        return self.agent_id

    def _dedup_key(self, record: MemoryRecord, event_type: str, dedup: Literal["content", "id"]) -> str:
        if dedup == "id":
            # StorageBackend semantics: records are keyed by id, so two records with the same text are two.
            raw = "|".join([*self.partition, "id", record.id])
        else:
            # The same text in the same scope of the same partition is one memory (memtrace's 24 h window),
            # which stands in for CrewAI's LLM consolidation of near-duplicates.
            raw = "|".join([*self.partition, event_type, normalize_scope(record.scope), record.content])
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]

    def _check_dimensions(self, records: list[MemoryRecord]) -> None:
        """Raise CrewAI's `EmbeddingDimensionMismatchError` for a batch whose embeddings differ in size from
        each other or from the partition's stored ones, as LanceDB and Qdrant-edge do: mixed sizes would
        make every later search fail."""
        batch_dim: int | None = None
        for record in records:
            if not record.embedding:
                continue
            if batch_dim is None:
                batch_dim = len(record.embedding)
            elif len(record.embedding) != batch_dim:
                raise EmbeddingDimensionMismatchError(batch_dim, len(record.embedding))
        if batch_dim is None or batch_dim == self._vector_dim:
            return
        # Unknown, or different from what we saw: ask the store (it may have been reset since).
        page = self._client.list_memories(
            ListOptions(tags=[*self.partition, EMBEDDED_TAG], limit=1, order="desc")
        )
        stored = [len(r.embedding) for r in map(memory_to_record, page.memories) if r.embedding]
        expected = stored[0] if stored else self._declared_dim
        if expected is not None and expected != batch_dim:
            self._vector_dim = stored[0] if stored else None
            raise EmbeddingDimensionMismatchError(expected, batch_dim)
        self._vector_dim = batch_dim

    # ------------------------------------------------------------------ reading helpers

    def _filter_tags(self, scope_prefix: str | None, categories: list[str] | None = None) -> list[str]:
        tags = list(self.partition)
        tag = scope_tag(scope_prefix or "/")
        if tag is not None:
            tags.append(tag)
        if categories and len(categories) == 1:
            tags.append(category_tag(categories[0]))  # any-of several categories is filtered afterwards
        return tags

    def _scan(self, tags: list[str]) -> Iterator[Memory]:
        """Every memory carrying all `tags`, oldest first (so pages stay stable while others write)."""
        return self._client.iter_memories(ListOptions(tags=tags, order="asc"), page_size=PAGE)

    def _records(self, scope_prefix: str | None) -> Iterator[MemoryRecord]:
        for memory in self._scan(self._filter_tags(scope_prefix)):
            record = memory_to_record(memory)
            if _under(record.scope, scope_prefix):
                yield record

    def _find_memory(self, record_id: str) -> Memory | None:
        page = self._client.list_memories(
            ListOptions(tags=[*self.partition, record_id_tag(record_id)], limit=10, order="desc")
        )
        for memory in page.memories:
            if memory_to_record(memory).id == record_id:
                return memory
        return None

    def _find_duplicate(self, record: MemoryRecord) -> MemoryRecord | None:
        """The stored record a skipped duplicate stands for: same text, same scope, in this partition."""
        scope = normalize_scope(record.scope)
        result = self._client.search_memories(
            SearchQuery(
                tags=self._filter_tags(scope), content_contains=record.content[:200], limit=50, order="desc"
            )
        )
        for memory in result.results:
            found = memory_to_record(memory)
            if found.content == record.content and normalize_scope(found.scope) == scope:
                return found
        return None

    # ------------------------------------------------------------------ writing

    def save_records(
        self,
        records: list[MemoryRecord],
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        memory_type: str = "episodic",
        event_type: str = EVENT_TYPE,
        dedup: Literal["content", "id"] = "content",
    ) -> list[MemoryRecord]:
        """Write `records` in one batch (all or nothing) and return them as stored, in order.

        With ``dedup="content"`` (what `MemtraceMemory` and the tools use), a record whose text already exists
        in the same scope (within memtrace's 24 h dedup window) is not written again; the stored one is
        returned in its place. With ``dedup="id"`` (CrewAI's `StorageBackend.save`), only a record whose *id*
        was already saved is skipped: every distinct record is stored, as LanceDB does.

        Raises `EmbeddingDimensionMismatchError` if the records' embeddings differ in size from each other or
        from the ones already stored.
        """
        if not records:
            return []
        self._check_dimensions(records)
        session = session_id if session_id is not None else self.current_session()
        normalized = [
            r
            if r.scope == normalize_scope(r.scope)
            else r.model_copy(update={"scope": normalize_scope(r.scope)})
            for r in records
        ]
        requests = [
            AddMemoryRequest(
                agent_id=agent_id or self._agent_for_scope(r.scope),
                content=r.content,
                session_id=session,
                memory_type=memory_type,
                event_type=event_type,
                metadata=record_metadata(r, keep_embedding=True),
                tags=record_tags(r, self.partition),
                importance=r.importance,
                dedup_key=self._dedup_key(r, event_type, dedup),
            )
            for r in normalized
        ]
        result = self._client.add_memories(requests)
        skipped = set(result.skipped_indexes)
        written = iter(result)  # the stored memories, in request order
        stored: list[MemoryRecord] = []
        first_stored: dict[str | None, MemoryRecord] = {}
        for i, (record, request) in enumerate(zip(normalized, requests, strict=True)):
            if i in skipped:
                # A duplicate of an earlier item of this batch, or of a memory stored before it.
                duplicate = first_stored.get(request.dedup_key)
                if duplicate is None:
                    duplicate = self.get_record(record.id) if dedup == "id" else self._find_duplicate(record)
                stored.append(duplicate or record)
                continue
            # As written, with memtrace's timestamp (no need to decode what we just encoded).
            created = to_naive_utc(next(written).time)
            saved = record.model_copy(update={"created_at": created, "last_accessed": created})
            first_stored.setdefault(request.dedup_key, saved)
            stored.append(saved)
        return stored

    def file_request(
        self, request: AddMemoryRequest, *, scope: str, categories: list[str] | None = None
    ) -> AddMemoryRequest:
        """`request`, written by other code (a memtrace tool's plan), filed as this backend files a record:
        in its partition, under `scope` with `categories`, in the pinned session or the crew run, so CrewAI's
        memory recalls it. Every other field of `request` (its agent, type, importance, any field memtrace
        adds later) is kept as given."""
        record = MemoryRecord(
            content=request.content,
            scope=normalize_scope(scope),
            categories=list(dict.fromkeys(categories or [])),
            metadata=dict(request.metadata or {}),
            importance=request.importance if request.importance is not None else 0.5,
        )
        session = request.session_id if request.session_id is not None else self.current_session()
        return request.model_copy(
            update={
                "session_id": session,
                "tags": record_tags(record, self.partition),
                "metadata": record_metadata(record, keep_embedding=False),
                "importance": record.importance,
                "dedup_key": self._dedup_key(record, request.event_type, "content"),
            }
        )

    def scope_filter(self, scope_prefix: str | None, categories: list[str] | None = None) -> list[str]:
        """The tags a listing or search needs to stay in this partition, under `scope_prefix`, and (all of)
        `categories`."""
        tags = self._filter_tags(scope_prefix)
        tags.extend(category_tag(c) for c in categories or [] if category_tag(c) not in tags)
        return tags

    def save(self, records: list[MemoryRecord]) -> None:
        """`StorageBackend.save`: persist records (with their embeddings, if any), keyed by record id."""
        self.save_records(records, dedup="id")

    def update(self, record: MemoryRecord) -> None:
        """Replace the record with the same id. memtrace memories are immutable, so the new version is written
        first (keeping the record's creation time, agent and session) and the old one then deleted."""
        self._check_dimensions([record])
        existing = self._find_memory(record.id)
        record = record.model_copy(update={"scope": normalize_scope(record.scope)})
        self._client.add_memory(
            AddMemoryRequest(
                agent_id=existing.agent_id if existing else self._agent_for_scope(record.scope),
                content=record.content,
                session_id=existing.session_id if existing else self.current_session(),
                memory_type=existing.memory_type if existing else "episodic",
                event_type=existing.event_type if existing else EVENT_TYPE,
                metadata=record_metadata(record, keep_embedding=True),
                tags=record_tags(record, self.partition),
                importance=record.importance,
                dedup_key=uuid.uuid4().hex,  # an edit may repeat earlier text; it must not be dropped
                time=to_aware_utc(record.created_at),
            )
        )
        if existing is not None:
            # NotFoundError: deleted concurrently; the new version stands.
            with contextlib.suppress(NotFoundError):
                self._client.delete_memory(existing.id)

    def delete(
        self,
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        record_ids: list[str] | None = None,
        older_than: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> int:
        """Delete what matches every given filter (scope by path, any-of categories, ids, age, metadata
        equality); with no filter, the whole partition. An empty `record_ids` list deletes nothing."""
        if record_ids is not None:
            candidates: list[Memory] = []
            for record_id in dict.fromkeys(record_ids):
                memory = self._find_memory(record_id)
                if memory is not None:
                    candidates.append(memory)
        else:
            candidates = list(self._scan(self._filter_tags(scope_prefix, categories)))
        doomed: list[str] = []
        for memory in candidates:
            record = memory_to_record(memory)
            if not _under(record.scope, scope_prefix):
                continue
            if matches(record, categories=categories, metadata_filter=metadata_filter, older_than=older_than):
                doomed.append(memory.id)
        # Atomic per 1,000 ids (memtrace's limit per call); ids someone else deleted first just do not count.
        return sum(
            self._client.delete_memories(memory_ids=doomed[start : start + 1000])
            for start in range(0, len(doomed), 1000)
        )

    def reset(self, scope_prefix: str | None = None) -> None:
        """Delete everything under `scope_prefix`; with none (or ``/``), the whole partition."""
        self.delete(scope_prefix=scope_prefix)

    # ------------------------------------------------------------------ searching

    def search(
        self,
        query_embedding: list[float],
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        metadata_filter: dict[str, Any] | None = None,
        limit: int = 10,
        min_score: float = 0.0,
    ) -> list[tuple[MemoryRecord, float]]:
        """`StorageBackend.search`: cosine similarity against the embeddings stored with the records.

        Records written without an embedding (e.g. by `MemtraceMemory`) have no vector and are skipped here;
        `search_text` finds them."""
        query = np.asarray(query_embedding, dtype=float)
        query_norm = float(np.linalg.norm(query)) if query.size else 0.0
        if query_norm == 0.0 or limit <= 0:
            return []
        scored: list[tuple[MemoryRecord, float]] = []
        for record in self._records(scope_prefix):
            if not record.embedding:
                continue
            if len(record.embedding) != query.size:
                raise EmbeddingDimensionMismatchError(len(record.embedding), int(query.size))
            if not matches(record, categories=categories, metadata_filter=metadata_filter):
                continue
            vector = np.asarray(record.embedding, dtype=float)
            norm = float(np.linalg.norm(vector))
            similarity = float(vector @ query) / (norm * query_norm) if norm else 0.0
            score = min(max(similarity, 0.0), 1.0)
            if score >= min_score:
                scored.append((record, score))
        scored.sort(key=lambda pair: pair[1], reverse=True)
        return scored[:limit]

    def search_text(
        self,
        query: str,
        *,
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        metadata_filter: dict[str, Any] | None = None,
        limit: int = 10,
        source: str | None = None,
        include_private: bool = False,
    ) -> list[tuple[MemoryRecord, float]]:
        """memtrace's ranked keyword search (BM25, then recency and importance) over the partition.

        Scores are relative: the best hit scores 1.0 and the others their share of its relevance."""
        if limit <= 0 or not query.strip():
            return []
        # Filters memtrace cannot apply (several categories, metadata, privacy) run afterwards, on a
        # larger candidate set, as CrewAI's own stores do.
        fetch = min(max(limit * 3, limit + 10), PAGE)
        result = self._client.search_memories(
            SearchQuery(query=query, tags=self._filter_tags(scope_prefix, categories), limit=fetch)
        )
        hits: list[tuple[MemoryRecord, float]] = []
        for memory in result.results:
            record = memory_to_record(memory)
            if not _under(record.scope, scope_prefix):
                continue
            if not matches(record, categories=categories, metadata_filter=metadata_filter):
                continue
            if not visible(record, source=source, include_private=include_private):
                continue
            hits.append((record, max(float(memory.score or 0.0), 0.0)))
        best = max((score for _, score in hits), default=0.0)
        ranked = [(record, score / best if best > 0 else 0.0) for record, score in hits]
        return ranked[:limit]

    def recent(
        self,
        *,
        since: str | None = None,
        agent_id: str | None = None,
        scope_prefix: str | None = None,
        limit: int = 20,
    ) -> list[tuple[Memory, MemoryRecord]]:
        """The newest memories of the partition (optionally one agent's), newest first."""
        page = self._client.list_memories(
            ListOptions(
                agent_id=agent_id,
                tags=self._filter_tags(scope_prefix),
                since=since,
                limit=min(max(limit, 1), PAGE),
                order="desc",
            )
        )
        return [(m, memory_to_record(m)) for m in page.memories]

    # ------------------------------------------------------------------ listing

    def get_record(self, record_id: str) -> MemoryRecord | None:
        memory = self._find_memory(record_id)
        return memory_to_record(memory) if memory is not None else None

    def list_records(
        self, scope_prefix: str | None = None, limit: int = 200, offset: int = 0
    ) -> list[MemoryRecord]:
        """Records under `scope_prefix`, newest first."""
        if limit <= 0 or offset < 0:
            return []
        tags = self._filter_tags(scope_prefix)
        out: list[MemoryRecord] = []
        pages = self._client.iter_memories(
            ListOptions(tags=tags, offset=offset, order="desc"), page_size=min(limit, PAGE)
        )
        for memory in pages:
            record = memory_to_record(memory)
            if _under(record.scope, scope_prefix):
                out.append(record)
                if len(out) >= limit:
                    break
        return out

    def get_scope_info(self, scope: str) -> ScopeInfo:
        path = normalize_scope(scope)
        child_prefix = "/" if path == "/" else path + "/"
        count = 0
        categories: set[str] = set()
        children: set[str] = set()
        oldest: datetime | None = None
        newest: datetime | None = None
        for record in self._records(path):
            count += 1
            categories.update(record.categories)
            if record.scope.startswith(child_prefix) and record.scope != path:
                children.add(child_prefix + record.scope[len(child_prefix) :].split("/", 1)[0])
            oldest = record.created_at if oldest is None else min(oldest, record.created_at)
            newest = record.created_at if newest is None else max(newest, record.created_at)
        return ScopeInfo(
            path=path,
            record_count=count,
            categories=sorted(categories),
            oldest_record=oldest,
            newest_record=newest,
            child_scopes=sorted(children),
        )

    def list_scopes(self, parent: str = "/") -> list[str]:
        """Immediate child scopes of `parent` that hold records."""
        return self.get_scope_info(parent).child_scopes

    def list_categories(self, scope_prefix: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self._records(scope_prefix):
            for category in record.categories:
                counts[category] = counts.get(category, 0) + 1
        return counts

    def count(self, scope_prefix: str | None = None) -> int:
        return sum(1 for _ in self._records(scope_prefix))

    # ------------------------------------------------------------------ async and lifecycle

    async def asave(self, records: list[MemoryRecord]) -> None:
        await asyncio.to_thread(self.save, records)

    async def asearch(
        self,
        query_embedding: list[float],
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        metadata_filter: dict[str, Any] | None = None,
        limit: int = 10,
        min_score: float = 0.0,
    ) -> list[tuple[MemoryRecord, float]]:
        return await asyncio.to_thread(
            self.search, query_embedding, scope_prefix, categories, metadata_filter, limit, min_score
        )

    async def adelete(
        self,
        scope_prefix: str | None = None,
        categories: list[str] | None = None,
        record_ids: list[str] | None = None,
        older_than: datetime | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> int:
        return await asyncio.to_thread(
            self.delete, scope_prefix, categories, record_ids, older_than, metadata_filter
        )

    def close(self) -> None:
        """Close the client if this backend created it; a client you passed in stays yours."""
        if self._owns_client:
            with contextlib.suppress(MemtraceError):
                self._client.close()
