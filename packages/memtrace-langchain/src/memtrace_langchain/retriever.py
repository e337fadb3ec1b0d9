"""`MemtraceRetriever`: memtrace's ranked keyword search as a LangChain retriever."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from memtrace import Memory, SearchQuery, ValidationError, id_for_key
from memtrace.bridge import AnyMemtrace, ClientBridge, Plan
from memtrace.operations import SearchMemories


def memory_to_document(memory: Memory) -> Document:
    """A memory as a `Document`: its content as page_content, its attributes (time as ISO-8601) as metadata."""
    return Document(
        id=memory.id,
        page_content=memory.content,
        metadata={
            "id": memory.id,
            "agent_id": memory.agent_id,
            "session_id": memory.session_id,
            "memory_type": memory.memory_type,
            "event_type": memory.event_type,
            "tags": list(memory.tags or []),
            "time": memory.time.isoformat(),
            "importance": memory.importance,
            "score": memory.score,
        },
    )


class MemtraceRetriever(BaseRetriever):
    """Retrieve memories ranked by relevance to the query (BM25 keyword ranking, then recency and importance).

    Example:
        ```python
        retriever = MemtraceRetriever(client=Memtrace.open("./data"), agent_id="support-bot", k=5)
        docs = retriever.invoke("dark mode")
        ```

    Each `Document` has the memory's content as ``page_content`` and ``id``, ``agent_id``, ``session_id``,
    ``memory_type``, ``event_type``, ``tags``, ``time`` (ISO-8601), ``importance`` and ``score`` (higher is
    more relevant) in its metadata.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: AnyMemtrace = Field(description="A memtrace.Memtrace or memtrace.AsyncMemtrace.")
    agent_id: str | None = Field(default=None, description="Only memories of this agent.")
    session_id: str | None = Field(
        default=None,
        description="Only memories of this session. Any key works: it is mapped with memtrace.id_for_key, like "
        "MemtraceChatMessageHistory's session_id.",
    )
    k: int = Field(default=4, ge=1, le=1000, description="How many documents to return.")
    memory_types: list[str] | None = Field(default=None, description="Only these memory types.")
    # Overrides BaseRetriever.tags on purpose (the signature): LangChain also passes these to callbacks
    # as run tags, which is harmless and shows the filter in traces.
    tags: list[str] | None = Field(default=None, description="Only memories carrying all of these tags.")
    since: str | None = Field(
        default=None, description="Only memories newer than this: relative (30m, 2h, 7d) or ISO-8601."
    )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return ClientBridge(self.client).run(self._search(self._query(query, kwargs)))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return await ClientBridge(self.client).arun(self._search(self._query(query, kwargs)))

    def _query(self, query: str, overrides: dict[str, Any]) -> SearchQuery:
        """The search for `query`; keyword arguments given to ``invoke`` (``k``, or any filter field) override
        the retriever's own for this call, as they do for LangChain's vector-store retrievers."""
        unknown = sorted(set(overrides) - _OVERRIDABLE)
        if unknown:
            raise TypeError(
                f"MemtraceRetriever.invoke() got unexpected keyword arguments: {', '.join(unknown)}"
            )
        fields = {name: getattr(self, name) for name in _OVERRIDABLE} | overrides
        k = fields["k"]
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
            raise ValidationError(f"k must be an integer from 1 to 1000, got {k!r}", "k")
        session_id = fields["session_id"]
        return SearchQuery(
            query=query,
            agent_id=fields["agent_id"],
            session_id=id_for_key(session_id) if session_id else None,
            memory_types=fields["memory_types"],
            tags=fields["tags"],
            since=fields["since"],
            limit=k,
        )

    def _search(self, query: SearchQuery) -> Plan[list[Document]]:
        result = yield SearchMemories(query)
        return [memory_to_document(m) for m in result.results]


_OVERRIDABLE = frozenset({"k", "agent_id", "session_id", "memory_types", "tags", "since"})
"""Fields a caller may override per call: ``retriever.invoke("dark mode", k=1)``."""


__all__ = ["MemtraceRetriever", "memory_to_document"]
