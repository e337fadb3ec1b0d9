"""`MemtraceMemory`: CrewAI's unified `Memory`, recalled through memtrace's ranked keyword search.

CrewAI's storage backends get only an embedding at search time, so a text-ranked memory has to be a `Memory`
subclass. This one replaces the parts of `Memory` that need an embedder or an LLM:

- `remember` / `remember_many` file memories with a `MemoryAnalyzer` (deterministic by default) and write
  them straight to memtrace, synchronously, so a later `recall` always sees them;
- `recall` runs memtrace's BM25 search and scores matches as CrewAI does (relevance, recency, importance);
- `extract_memories` turns a finished task into a memory without an LLM call.

Everything else (`forget`, `update`, `list_records`, `info`, `tree`, `reset`, `reset_all`, scopes and slices)
is CrewAI's own code over `MemtraceStorage`.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from crewai.events.event_bus import crewai_event_bus
from crewai.events.types.memory_events import (
    MemoryQueryCompletedEvent,
    MemoryQueryFailedEvent,
    MemoryQueryStartedEvent,
    MemorySaveCompletedEvent,
    MemorySaveFailedEvent,
    MemorySaveStartedEvent,
)
from crewai.memory.types import MemoryMatch, MemoryRecord, compute_composite_score
from crewai.memory.unified_memory import Memory
from crewai.memory.utils import join_scope_paths, normalize_scope_path
from crewai.tools import BaseTool
from pydantic import Field, PlainValidator, PrivateAttr

from memtrace import Memtrace

from ._client import agent_id_for_role
from ._records import RESERVED_KEY
from .analysis import HeuristicAnalyzer, MemoryAnalyzer, SaveAnalysis, StoreView
from .storage import MemtraceStorage

_SOURCE_TYPE = "unified_memory"


def _passthrough(value: Any) -> Any:
    return value


def no_embedding(texts: list[str]) -> list[list[float]]:
    """The embedder of a `MemtraceMemory`: none. Recall ranks by text, so nothing is ever embedded (and
    CrewAI's default OpenAI embedder is never built)."""
    return []


class MemtraceMemory(Memory):
    """A CrewAI `Memory` kept in memtrace: pass it as ``Crew(memory=MemtraceMemory(...))``.

    No embedder, no LLM and no API key are needed. Every agent of the crew shares it; any process that opens
    the same memtrace data directory or server with the same `crew_id` recalls the same memories.

    Args:
        client: a sync `memtrace.Memtrace` (embedded `Memtrace.open(path)` or remote `Memtrace(url, key)`);
            default `Memtrace.from_env()`.
        crew_id: keeps this crew's memories apart from other crews' (a partition tag): recall, listing,
            `forget` and `reset_all` see only this crew. Without it, every CrewAI memory of the namespace is one
            shared pool.
        agent_id: memtrace agent for memories saved without an agent role (default: `crew_id`, else
            ``crewai``). Memories a crew agent saves are written as that agent (its role, as CrewAI writes it
            into scopes: ``Senior Researcher`` -> ``senior-researcher``).
        session_id: memtrace session for every memory; default one session per crew run.
        namespace: the tag shared by all CrewAI memories (default ``crewai``).
        analyzer: decides what to keep and how to file it (default `HeuristicAnalyzer`, deterministic);
            pass `LLMAnalyzer(llm)` for CrewAI's LLM analysis.
        **fields: any `crewai.Memory` field, e.g. ``root_scope``, ``read_only``, ``recency_weight``.
    """

    crew_id: str | None = Field(default=None, description="Partition of this crew's memories in memtrace.")
    agent_id: str | None = Field(default=None, description="memtrace agent for memories without a role.")
    session_id: str | None = Field(default=None, description="memtrace session; default one per crew run.")
    namespace: str = Field(default="crewai", description="Tag shared by every CrewAI memory in memtrace.")
    analyzer: Annotated[Any, PlainValidator(_passthrough)] = Field(
        default=None, exclude=True, description="MemoryAnalyzer; default HeuristicAnalyzer (no LLM)."
    )
    embedder: Any = Field(default=no_embedding, exclude=True, description="Unused: recall ranks by text.")

    _analyzer: MemoryAnalyzer = PrivateAttr()

    def __init__(self, client: Memtrace | None = None, **data: Any) -> None:
        storage = data.get("storage")
        if storage is None or isinstance(storage, str):
            data["storage"] = MemtraceStorage(
                client,
                namespace=data.get("namespace", "crewai"),
                crew_id=data.get("crew_id"),
                agent_id=data.get("agent_id"),
                session_id=data.get("session_id"),
            )
        elif not isinstance(storage, MemtraceStorage):
            raise TypeError(f"MemtraceMemory needs a MemtraceStorage, not {type(storage).__name__}")
        elif client is not None:
            raise TypeError("pass either client or storage, not both")
        else:  # the storage decides the partition; show it on the memory too
            data.update(crew_id=storage.crew_id, agent_id=storage.agent_id, session_id=storage.session_id)
            data.update(namespace=storage.namespace)
        super().__init__(**data)

    def model_post_init(self, __context: Any) -> None:
        super().model_post_init(__context)
        analyzer = self.analyzer if self.analyzer is not None else HeuristicAnalyzer(self.default_importance)
        if not isinstance(analyzer, MemoryAnalyzer):
            raise TypeError(
                "analyzer must have extract_memories, analyze and recall_queries (see memtrace_crewai.MemoryAnalyzer)"
            )
        self._analyzer = analyzer

    @property
    def memtrace_storage(self) -> MemtraceStorage:
        """The backend: its `client` is the memtrace client, its `partition` the tags of this memory."""
        storage = self._storage
        assert isinstance(storage, MemtraceStorage)
        return storage

    @property
    def client(self) -> Memtrace:
        """The memtrace client this memory writes through."""
        return self.memtrace_storage.client

    # ------------------------------------------------------------------ saving

    def _build_records(
        self,
        contents: list[str],
        *,
        scope: str | None,
        categories: list[str] | None,
        metadata: dict[str, Any] | None,
        importance: float | None,
        source: str | None,
        private: bool,
        root_scope: str | None,
    ) -> list[MemoryRecord]:
        if metadata and RESERVED_KEY in metadata:
            raise ValueError(f"metadata key {RESERVED_KEY!r} is reserved by memtrace-crewai")
        storage = self.memtrace_storage
        view = StoreView(
            existing_scopes=lambda: storage.list_scopes(root_scope or "/") or ["/"],
            existing_categories=lambda: sorted(storage.list_categories(root_scope)),
        )
        records: list[MemoryRecord] = []
        for content in contents:
            if not content or not content.strip():
                continue
            needs_analysis = scope is None or categories is None or importance is None
            analysis = self._analyzer.analyze(content, view) if needs_analysis else SaveAnalysis()
            inner = scope if scope is not None else analysis.scope
            resolved = (
                join_scope_paths(root_scope, inner) if root_scope else normalize_scope_path(inner or "/")
            )
            records.append(
                MemoryRecord(
                    content=content,
                    scope=resolved,
                    categories=list(categories if categories is not None else analysis.categories),
                    metadata={**analysis.metadata, **(metadata or {})},
                    importance=importance if importance is not None else analysis.importance,
                    source=source,
                    private=private,
                )
            )
        return records

    def _save(
        self,
        contents: list[str],
        *,
        scope: str | None,
        categories: list[str] | None,
        metadata: dict[str, Any] | None,
        importance: float | None,
        source: str | None,
        private: bool,
        agent_role: str | None,
        root_scope: str | None,
        label: str,
    ) -> list[MemoryRecord]:
        effective_root = root_scope if root_scope is not None else self.root_scope
        crewai_event_bus.emit(
            self,
            MemorySaveStartedEvent(
                value=label, metadata=metadata, agent_role=agent_role, source_type=_SOURCE_TYPE
            ),
        )
        start = time.perf_counter()
        try:
            records = self._build_records(
                contents,
                scope=scope,
                categories=categories,
                metadata=metadata,
                importance=importance,
                source=source,
                private=private,
                root_scope=effective_root,
            )
            agent_id = agent_id_for_role(agent_role) if agent_role else None
            stored = self.memtrace_storage.save_records(records, agent_id=agent_id)
        except Exception as e:
            crewai_event_bus.emit(
                self,
                MemorySaveFailedEvent(
                    value=label,
                    metadata=metadata,
                    agent_role=agent_role,
                    error=str(e),
                    source_type=_SOURCE_TYPE,
                ),
            )
            raise
        crewai_event_bus.emit(
            self,
            MemorySaveCompletedEvent(
                value=label,
                metadata=metadata or {},
                agent_role=agent_role,
                save_time_ms=(time.perf_counter() - start) * 1000,
                source_type=_SOURCE_TYPE,
            ),
        )
        return stored

    def remember(
        self,
        content: str,
        scope: str | None = None,
        categories: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        importance: float | None = None,
        source: str | None = None,
        private: bool = False,
        agent_role: str | None = None,
        root_scope: str | None = None,
    ) -> MemoryRecord | None:
        """Store one memory now and return it (None when read-only or the content is blank).

        Fields left as None are filled by the analyzer (default: root scope, no categories, importance from
        the text). Text already stored in the same scope within 24 h is not stored twice; the existing record
        is returned.
        """
        if self.read_only:
            return None
        stored = self._save(
            [content],
            scope=scope,
            categories=categories,
            metadata=metadata,
            importance=importance,
            source=source,
            private=private,
            agent_role=agent_role,
            root_scope=root_scope,
            label=content,
        )
        return stored[0] if stored else None

    def remember_many(
        self,
        contents: list[str],
        scope: str | None = None,
        categories: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        importance: float | None = None,
        source: str | None = None,
        private: bool = False,
        agent_role: str | None = None,
        root_scope: str | None = None,
    ) -> list[MemoryRecord]:
        """Store several memories in one atomic batch and return them.

        Unlike CrewAI's `Memory`, which encodes in a background thread and returns ``[]``, the write is
        synchronous: a memtrace write takes about a millisecond, and the caller's next `recall` (in any
        process) is guaranteed to see it.
        """
        if not contents or self.read_only:
            return []
        return self._save(
            contents,
            scope=scope,
            categories=categories,
            metadata=metadata,
            importance=importance,
            source=source,
            private=private,
            agent_role=agent_role,
            root_scope=root_scope,
            label=f"{len(contents)} memories",
        )

    def extract_memories(self, content: str) -> list[str]:
        """The memories worth keeping from raw content, by the analyzer (default: no LLM call)."""
        return self._analyzer.extract_memories(content)

    # ------------------------------------------------------------------ recalling

    def recall(
        self,
        query: str,
        scope: str | None = None,
        categories: list[str] | None = None,
        limit: int = 10,
        depth: Literal["shallow", "deep"] = "deep",
        source: str | None = None,
        include_private: bool = False,
    ) -> list[MemoryMatch]:
        """Memories relevant to `query`, best first, by memtrace's ranked keyword search.

        The score is CrewAI's composite: ``semantic_weight`` x keyword relevance (1.0 for the best hit)
        + ``recency_weight`` x recency + ``importance_weight`` x importance. ``depth="deep"`` lets the
        analyzer rewrite the query (the default analyzer keeps it); no embedding is computed either way.
        Private records are returned only to their `source` or with `include_private`.
        """
        self.drain_writes()
        effective_scope = scope
        if effective_scope is None and self.root_scope:
            effective_scope = self.root_scope
        elif effective_scope is not None and self.root_scope:
            effective_scope = join_scope_paths(self.root_scope, effective_scope)
        crewai_event_bus.emit(
            self,
            MemoryQueryStartedEvent(query=query, limit=limit, score_threshold=None, source_type=_SOURCE_TYPE),
        )
        start = time.perf_counter()
        try:
            queries = self._analyzer.recall_queries(query) if depth == "deep" else [query]
            oversample = self._config.recall_oversample_factor
            best: dict[str, tuple[MemoryRecord, float]] = {}
            for q in queries:
                for record, relevance in self.memtrace_storage.search_text(
                    q,
                    scope_prefix=effective_scope,
                    categories=categories,
                    limit=max(limit, 1) * oversample,
                    source=source,
                    include_private=include_private,
                ):
                    if record.id not in best or relevance > best[record.id][1]:
                        best[record.id] = (record, relevance)
            results: list[MemoryMatch] = []
            for record, relevance in best.values():
                score, reasons = compute_composite_score(record, relevance, self._config)
                reasons = ["keywords" if r == "semantic" else r for r in reasons]
                results.append(MemoryMatch(record=record, score=score, match_reasons=reasons))
            results.sort(key=lambda m: m.score, reverse=True)
            results = results[: max(limit, 0)]
        except Exception as e:
            crewai_event_bus.emit(
                self,
                MemoryQueryFailedEvent(
                    query=query, limit=limit, score_threshold=None, error=str(e), source_type=_SOURCE_TYPE
                ),
            )
            raise
        crewai_event_bus.emit(
            self,
            MemoryQueryCompletedEvent(
                query=query,
                results=results,
                limit=limit,
                score_threshold=None,
                query_time_ms=(time.perf_counter() - start) * 1000,
                source_type=_SOURCE_TYPE,
            ),
        )
        return results

    # ------------------------------------------------------------------ tools

    def tools(self, agent_id: str | None = None, *, agent_role: str | None = None) -> list[BaseTool]:
        """memtrace tools (remember, recall, search, decide) writing into this memory, for one agent."""
        from .tools import memtrace_tools

        return memtrace_tools(self, agent_id=agent_id, agent_role=agent_role)
