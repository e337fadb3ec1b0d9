"""`Memtrace` and `AsyncMemtrace`: one client API, in-process or against a server.

The method names and signatures are memtrace-sdk 0.2.0's, so code written for that SDK runs unchanged; the
extensions (`get_memory`, `delete_memory`, `delete_memories`, `update_session`) are marked as such.

    with Memtrace.open("./data") as mt:                      # embedded, no server
        mt.remember("agent_1", "User prefers dark mode")

    mt = Memtrace("http://localhost:9100", "mtk_...")        # a memtrace server
    mt = Memtrace.from_env()                                  # whichever the environment says
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from .backends import AsyncBackend, AsyncLocalBackend, Backend, LocalBackend
from .engine import Engine, EngineConfig
from .limits import QUERY_TIME_BUDGET_SECONDS, InputLimits
from .models import (
    AddMemoryRequest,
    Agent,
    AgentList,
    AgentStats,
    BatchResult,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    MemoryList,
    RegisterAgentRequest,
    SearchQuery,
    SearchResult,
    Session,
    SessionContext,
    SessionList,
)

if TYPE_CHECKING:
    from .stores.arc.config import ArcConfig

DEFAULT_TIMEOUT = 30.0
DEFAULT_ORG_ID = "org_default"


def open_engine(
    path: str | Path | None = None,
    *,
    org_id: str = DEFAULT_ORG_ID,
    dedup_window_hours: float = 24.0,
    dedup_enabled: bool = True,
    synchronous: Literal["FULL", "NORMAL"] = "FULL",
    max_content_length: int | None = None,
    arc: ArcConfig | None = None,
    limits: InputLimits | None = None,
    query_budget_s: float = QUERY_TIME_BUDGET_SECONDS,
) -> Engine:
    """An engine on the embedded SQLite store in directory `path` (default: $MEMTRACE_DATA_DIR, else ./data).

    With `arc`, memories live in that Arc instance instead, behind a durable spool in `path` (metadata stays
    in `path` too); see docs/arc.md."""
    from .stores.sqlite import SQLiteDatabase, SQLiteEventStore, SQLiteMetadataStore
    from .timeparse import now_us
    from .validation import check_id

    check_id(org_id, "org_id")
    directory = Path(
        path if path is not None else os.environ.get("MEMTRACE_DATA_DIR") or "./data"
    ).expanduser()
    db = SQLiteDatabase(directory, synchronous=synchronous, query_budget_s=query_budget_s)
    metadata = SQLiteMetadataStore(db)
    metadata.ensure_org(org_id, "Default" if org_id == DEFAULT_ORG_ID else org_id, now_us())
    config = EngineConfig(
        dedup_enabled=dedup_enabled,
        dedup_window_hours=dedup_window_hours,
        max_content_length=max_content_length,
        limits=limits or InputLimits(),
    )
    if arc is not None:
        from .stores.arc import SPOOL_FILENAME, ArcEventStore

        spool = directory.with_name(SPOOL_FILENAME) if directory.suffix == ".db" else directory
        return Engine(ArcEventStore(arc, spool, synchronous=synchronous), metadata, config)
    return Engine(SQLiteEventStore(db), metadata, config)


def _remote_backend(base_url: str, api_key: str, timeout: float) -> Any:
    from .backends.http import HttpBackend

    return HttpBackend(base_url, api_key, timeout=timeout)


def _async_remote_backend(base_url: str, api_key: str, timeout: float) -> Any:
    from .backends.http import AsyncHttpBackend

    return AsyncHttpBackend(base_url, api_key, timeout=timeout)


def _env_remote() -> tuple[str, str] | None:
    url, key = os.environ.get("MEMTRACE_URL"), os.environ.get("MEMTRACE_API_KEY")
    return (url, key) if url and key else None


class Memtrace:
    """The synchronous client.

    `Memtrace(base_url, api_key)` talks to a memtrace server; `Memtrace.open(path)` runs the engine in-process
    on the embedded store. Both have the same methods and raise the same errors.
    """

    _backend: Backend

    def __init__(self, base_url: str, api_key: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._backend = _remote_backend(base_url, api_key, timeout)

    @classmethod
    def from_backend(cls, backend: Backend) -> Self:
        """A client over any `Backend` (for tests and custom transports)."""
        client = cls.__new__(cls)
        client._backend = backend
        return client

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        org_id: str = DEFAULT_ORG_ID,
        dedup_window_hours: float = 24.0,
        arc: ArcConfig | None = None,
        **engine_options: Any,
    ) -> Self:
        """Run memtrace in-process on the embedded SQLite store in directory `path`
        (default: $MEMTRACE_DATA_DIR, else ./data). Several processes may open one directory.

        `arc=ArcConfig(url=..., token=..., database=..., measurement=...)` keeps memories in Arc instead (metadata
        and the write spool stay in `path`)."""
        engine = open_engine(
            path, org_id=org_id, dedup_window_hours=dedup_window_hours, arc=arc, **engine_options
        )
        return cls.from_backend(LocalBackend(engine, org_id))

    @classmethod
    def from_env(cls) -> Self:
        """Remote when MEMTRACE_URL and MEMTRACE_API_KEY are set, else embedded in MEMTRACE_DATA_DIR
        (org MEMTRACE_ORG_ID, default org_default)."""
        remote = _env_remote()
        if remote:
            return cls(*remote)
        return cls.open(org_id=os.environ.get("MEMTRACE_ORG_ID") or DEFAULT_ORG_ID)

    # --- conveniences (memtrace-sdk 0.2.0)
    def remember(self, agent_id: str, content: str) -> Memory:
        """Store an episodic memory."""
        return self.add_memory(AddMemoryRequest(agent_id=agent_id, content=content))

    def recall(self, agent_id: str, since: str = "24h") -> MemoryList:
        """The agent's memories since `since` (relative or ISO-8601), newest first, at most 100."""
        return self.list_memories(ListOptions(agent_id=agent_id, since=since, limit=100, order="desc"))

    def decide(self, agent_id: str, decision: str, reasoning: str) -> Memory:
        """Record a decision with its reasoning."""
        return self.add_memory(_decision(agent_id, decision, reasoning))

    # --- memories
    def add_memory(self, req: AddMemoryRequest) -> Memory:
        """Store one memory; `ConflictError` if an identical one was stored within the dedup window."""
        return self._backend.call("add_memory", req)  # type: ignore[no-any-return]

    def add_memories(self, reqs: list[AddMemoryRequest]) -> BatchResult:
        """Store a batch atomically; duplicates are skipped and counted in the result's `skipped`."""
        return self._backend.call("add_memories", reqs)  # type: ignore[no-any-return]

    def list_memories(self, opts: ListOptions | None = None) -> MemoryList:
        return self._backend.call("list_memories", opts or ListOptions())  # type: ignore[no-any-return]

    def search_memories(self, q: SearchQuery) -> SearchResult:
        """Filtered search; ranked by keyword relevance when `q.query` is set."""
        return self._backend.call("search_memories", q)  # type: ignore[no-any-return]

    def get_memory(self, memory_id: str) -> Memory:
        """(extension) A memory by id; `NotFoundError` if it does not exist."""
        return self._backend.call("get_memory", memory_id)  # type: ignore[no-any-return]

    def delete_memory(self, memory_id: str) -> None:
        """(extension) Delete a memory by id; `NotFoundError` if it does not exist."""
        self._backend.call("delete_memory", memory_id)

    def delete_memories(
        self,
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        memory_type: str | None = None,
        event_type: str | None = None,
        tags: str | list[str] | None = None,
        memory_ids: list[str] | None = None,
    ) -> int:
        """(extension) Delete every memory matching all given filters, atomically; return how many.

        At least one of agent_id, session_id, since, until or memory_ids is required; memory_type, event_type
        and tags (whole tags, ANDed) narrow further. `memory_ids` deletes up to 1,000 memories by id at once.
        """
        return self._backend.call(  # type: ignore[no-any-return]
            "delete_memories", **_delete_filters(locals())
        )

    # --- agents
    def register_agent(self, req: RegisterAgentRequest) -> Agent:
        return self._backend.call("register_agent", req)  # type: ignore[no-any-return]

    def list_agents(self) -> AgentList:
        return self._backend.call("list_agents")  # type: ignore[no-any-return]

    def get_agent(self, agent_id: str) -> Agent:
        """A registered agent by id or by name."""
        return self._backend.call("get_agent", agent_id)  # type: ignore[no-any-return]

    def get_agent_stats(self, agent_id: str) -> AgentStats:
        return self._backend.call("get_agent_stats", agent_id)  # type: ignore[no-any-return]

    def get_agent_memories(self, agent_id: str, opts: ListOptions | None = None) -> MemoryList:
        """The agent's memories (last 24 h unless `opts.since` is given)."""
        return self._backend.call("get_agent_memories", agent_id, opts)  # type: ignore[no-any-return]

    def delete_agent(self, agent_id: str) -> None:
        self._backend.call("delete_agent", agent_id)

    # --- sessions
    def create_session(self, req: CreateSessionRequest) -> Session:
        return self._backend.call("create_session", req)  # type: ignore[no-any-return]

    def get_session(self, session_id: str) -> Session:
        return self._backend.call("get_session", session_id)  # type: ignore[no-any-return]

    def get_session_context(self, session_id: str, opts: ContextOptions | None = None) -> SessionContext:
        """The session as LLM-ready markdown, within `opts.max_tokens` when given."""
        return self._backend.call("get_session_context", session_id, opts)  # type: ignore[no-any-return]

    def get_session_memories(self, session_id: str, opts: ListOptions | None = None) -> MemoryList:
        return self._backend.call("get_session_memories", session_id, opts)  # type: ignore[no-any-return]

    def list_sessions(self, agent_id: str | None = None) -> SessionList:
        return self._backend.call("list_sessions", agent_id)  # type: ignore[no-any-return]

    def update_session(
        self, session_id: str, *, status: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Session:
        """(extension) Set a session's status and/or replace its metadata."""
        return self._backend.call(  # type: ignore[no-any-return]
            "update_session", session_id, status=status, metadata=metadata
        )

    def close_session(self, session_id: str) -> Session:
        return self._backend.call("close_session", session_id)  # type: ignore[no-any-return]

    # --- lifecycle
    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncMemtrace:
    """The asynchronous client: `Memtrace`'s methods as coroutines. In-process work runs in a worker thread,
    so the event loop is never blocked."""

    _backend: AsyncBackend

    def __init__(self, base_url: str, api_key: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._backend = _async_remote_backend(base_url, api_key, timeout)

    @classmethod
    def from_backend(cls, backend: AsyncBackend) -> Self:
        client = cls.__new__(cls)
        client._backend = backend
        return client

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        org_id: str = DEFAULT_ORG_ID,
        dedup_window_hours: float = 24.0,
        arc: ArcConfig | None = None,
        **engine_options: Any,
    ) -> Self:
        """Run memtrace in-process on the embedded store in directory `path` (see `Memtrace.open`)."""
        engine = open_engine(
            path, org_id=org_id, dedup_window_hours=dedup_window_hours, arc=arc, **engine_options
        )
        return cls.from_backend(AsyncLocalBackend(LocalBackend(engine, org_id)))

    @classmethod
    def from_env(cls) -> Self:
        """Remote when MEMTRACE_URL and MEMTRACE_API_KEY are set, else embedded in MEMTRACE_DATA_DIR."""
        remote = _env_remote()
        if remote:
            return cls(*remote)
        return cls.open(org_id=os.environ.get("MEMTRACE_ORG_ID") or DEFAULT_ORG_ID)

    async def remember(self, agent_id: str, content: str) -> Memory:
        return await self.add_memory(AddMemoryRequest(agent_id=agent_id, content=content))

    async def recall(self, agent_id: str, since: str = "24h") -> MemoryList:
        return await self.list_memories(ListOptions(agent_id=agent_id, since=since, limit=100, order="desc"))

    async def decide(self, agent_id: str, decision: str, reasoning: str) -> Memory:
        return await self.add_memory(_decision(agent_id, decision, reasoning))

    async def add_memory(self, req: AddMemoryRequest) -> Memory:
        return await self._backend.call("add_memory", req)  # type: ignore[no-any-return]

    async def add_memories(self, reqs: list[AddMemoryRequest]) -> BatchResult:
        return await self._backend.call("add_memories", reqs)  # type: ignore[no-any-return]

    async def list_memories(self, opts: ListOptions | None = None) -> MemoryList:
        return await self._backend.call("list_memories", opts or ListOptions())  # type: ignore[no-any-return]

    async def search_memories(self, q: SearchQuery) -> SearchResult:
        return await self._backend.call("search_memories", q)  # type: ignore[no-any-return]

    async def get_memory(self, memory_id: str) -> Memory:
        return await self._backend.call("get_memory", memory_id)  # type: ignore[no-any-return]

    async def delete_memory(self, memory_id: str) -> None:
        await self._backend.call("delete_memory", memory_id)

    async def delete_memories(
        self,
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        memory_type: str | None = None,
        event_type: str | None = None,
        tags: str | list[str] | None = None,
        memory_ids: list[str] | None = None,
    ) -> int:
        return await self._backend.call(  # type: ignore[no-any-return]
            "delete_memories", **_delete_filters(locals())
        )

    async def register_agent(self, req: RegisterAgentRequest) -> Agent:
        return await self._backend.call("register_agent", req)  # type: ignore[no-any-return]

    async def list_agents(self) -> AgentList:
        return await self._backend.call("list_agents")  # type: ignore[no-any-return]

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._backend.call("get_agent", agent_id)  # type: ignore[no-any-return]

    async def get_agent_stats(self, agent_id: str) -> AgentStats:
        return await self._backend.call("get_agent_stats", agent_id)  # type: ignore[no-any-return]

    async def get_agent_memories(self, agent_id: str, opts: ListOptions | None = None) -> MemoryList:
        return await self._backend.call("get_agent_memories", agent_id, opts)  # type: ignore[no-any-return]

    async def delete_agent(self, agent_id: str) -> None:
        await self._backend.call("delete_agent", agent_id)

    async def create_session(self, req: CreateSessionRequest) -> Session:
        return await self._backend.call("create_session", req)  # type: ignore[no-any-return]

    async def get_session(self, session_id: str) -> Session:
        return await self._backend.call("get_session", session_id)  # type: ignore[no-any-return]

    async def get_session_context(
        self, session_id: str, opts: ContextOptions | None = None
    ) -> SessionContext:
        return await self._backend.call("get_session_context", session_id, opts)  # type: ignore[no-any-return]

    async def get_session_memories(self, session_id: str, opts: ListOptions | None = None) -> MemoryList:
        return await self._backend.call("get_session_memories", session_id, opts)  # type: ignore[no-any-return]

    async def list_sessions(self, agent_id: str | None = None) -> SessionList:
        return await self._backend.call("list_sessions", agent_id)  # type: ignore[no-any-return]

    async def update_session(
        self, session_id: str, *, status: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Session:
        return await self._backend.call(  # type: ignore[no-any-return]
            "update_session", session_id, status=status, metadata=metadata
        )

    async def close_session(self, session_id: str) -> Session:
        return await self._backend.call("close_session", session_id)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self._backend.close()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _decision(agent_id: str, decision: str, reasoning: str) -> AddMemoryRequest:
    return AddMemoryRequest(
        agent_id=agent_id,
        content=decision,
        memory_type="decision",
        event_type="decision",
        metadata={"reasoning": reasoning},
    )


_DELETE_FILTERS = (
    "agent_id",
    "session_id",
    "since",
    "until",
    "memory_type",
    "event_type",
    "tags",
    "memory_ids",
)


def _delete_filters(arguments: dict[str, Any]) -> dict[str, Any]:
    # Only the filters actually given travel to the backend, so an older server sees the calls it knows.
    return {name: arguments[name] for name in _DELETE_FILTERS if arguments[name] is not None}
