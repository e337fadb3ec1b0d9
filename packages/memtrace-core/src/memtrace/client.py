"""`Memtrace` and `AsyncMemtrace`: one client API, in-process or against a server.

The method names and signatures are memtrace-sdk 0.2.0's, so code written for that SDK runs unchanged; the
extensions (`get_memory`, `delete_memory`, `delete_memories`, `forget`, `update_session`, `iter_memories`,
`export_memories`, `import_memories`, `create_session(..., exist_ok=True)`, `execute`) are marked as such.

Every API method is written once, as ``name = client_method(SomeOperation)`` in `_ClientMethods`: calling it
builds that `memtrace.operations.Operation` and hands it to the client's backend. `Memtrace` gets a method
returning the result, `AsyncMemtrace` a coroutine method; the signature is the operation's fields.

    with Memtrace.open("./data") as mt:                      # embedded, no server
        mt.remember("agent_1", "User prefers dark mode")

    mt = Memtrace("http://localhost:9100", "mtk_...")        # a memtrace server
    mt = Memtrace.from_env()                                  # whichever the environment says
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from types import MethodType, TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, ParamSpec, Self, TypeVar, overload

from . import operations as ops
from .backends import AsyncBackend, AsyncLocalBackend, Backend, LocalBackend
from .engine import Engine, EngineConfig
from .limits import QUERY_TIME_BUDGET_SECONDS, InputLimits
from .models import ListOptions, Memory
from .operations import Operation
from .paging import MAX_PAGE_SIZE, MemoryPages
from .sweeper import DEFAULT_SWEEP_INTERVAL_SECONDS

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
    in `path` too); see docs/arc.md. The stores are built by `memtrace.stores.open_stores`, so `path` may also
    be a store URL (``sqlite:///...``, ``postgresql://...``)."""
    from .stores import open_stores
    from .validation import check_id

    check_id(org_id, "org_id")
    location = path if path is not None else os.environ.get("MEMTRACE_DATA_DIR") or "./data"
    if isinstance(location, Path) or "://" not in location:
        location = Path(location).expanduser()
    options: dict[str, Any] = {}
    if synchronous != "FULL":
        options["synchronous"] = synchronous
    if arc is not None:
        options["arc"] = arc
    if query_budget_s != QUERY_TIME_BUDGET_SECONDS:
        options["query_budget_s"] = query_budget_s
    config = EngineConfig(
        dedup_enabled=dedup_enabled,
        dedup_window_hours=dedup_window_hours,
        max_content_length=max_content_length,
        limits=limits or InputLimits(),
    )
    engine = Engine.from_stores(open_stores(location, setting="path", **options), config)
    try:
        engine.ensure_org(org_id, "Default" if org_id == DEFAULT_ORG_ID else org_id)
    except BaseException:
        engine.close()
        raise
    return engine


def _remote_backend(base_url: str, api_key: str, timeout: float) -> Backend:
    from .backends.http import HttpBackend

    return HttpBackend(base_url, api_key, timeout=timeout)


def _async_remote_backend(base_url: str, api_key: str, timeout: float) -> AsyncBackend:
    from .backends.http import AsyncHttpBackend

    return AsyncHttpBackend(base_url, api_key, timeout=timeout)


def _env_remote() -> tuple[str, str] | None:
    url, key = os.environ.get("MEMTRACE_URL"), os.environ.get("MEMTRACE_API_KEY")
    return (url, key) if url and key else None


def _env_store_url() -> str | None:
    """MEMTRACE_STORE_URL, the store setting the server reads too (None: the data directory decides)."""
    return os.environ.get("MEMTRACE_STORE_URL") or None


P = ParamSpec("P")
R = TypeVar("R")


class client_method(Generic[P, R]):
    """One client API method for both clients, from a function building its operation (often the operation's
    dataclass itself, whose fields are then the parameters).

    On a `Memtrace` it is ``(*P) -> R``, on an `AsyncMemtrace` ``async (*P) -> R``; a type checker sees exactly
    that, so a client method cannot disagree with its operation.
    """

    def __init__(self, build: Callable[P, Operation[R]]) -> None:
        self.build = build
        signature = inspect.signature(build)
        self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        self.__signature__ = signature.replace(
            parameters=[self_param, *signature.parameters.values()], return_annotation=inspect.Signature.empty
        )

        def sync_method(client: Memtrace, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return client._backend.execute(build(*args, **kwargs))

        async def async_method(client: AsyncMemtrace, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return await client._backend.execute(build(*args, **kwargs))

        for method in (sync_method, async_method):
            method.__doc__ = build.__doc__
            setattr(method, "__signature__", self.__signature__)  # noqa: B010 - no such attribute on Callable
        self._sync: Callable[..., Any] = sync_method
        self._async: Callable[..., Any] = async_method

    def __set_name__(self, owner: type[Any], name: str) -> None:
        for method in (self._sync, self._async):
            method.__name__ = name
            method.__qualname__ = f"{owner.__qualname__}.{name}"

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Callable[..., Any]: ...

    @overload
    def __get__(self, client: Memtrace, owner: type[Any]) -> Callable[P, R]: ...

    @overload
    def __get__(self, client: AsyncMemtrace, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, R]]: ...

    def __get__(self, client: _ClientMethods | None, owner: type[Any]) -> Callable[..., Any]:
        method = self._async if owner._is_async else self._sync
        return method if client is None else MethodType(method, client)


class _ClientMethods:
    """The API both clients share: each line is one method, defined by its operation."""

    _is_async: ClassVar[bool]

    # --- conveniences (memtrace-sdk 0.2.0)
    remember = client_method(ops.remember)
    recall = client_method(ops.recall)
    decide = client_method(ops.decide)

    # --- memories
    add_memory = client_method(ops.AddMemory)
    add_memories = client_method(ops.AddMemories)
    list_memories = client_method(ops.ListMemories)
    search_memories = client_method(ops.SearchMemories)
    get_memory = client_method(ops.GetMemory)
    delete_memory = client_method(ops.DeleteMemory)
    delete_memories = client_method(ops.DeleteMemories)
    forget = client_method(ops.Forget)
    export_memories = client_method(ops.ExportMemories)
    import_memories = client_method(ops.ImportMemories)

    # --- facts that change
    get_fact = client_method(ops.GetFact)
    fact_history = client_method(ops.FactHistory)
    list_facts = client_method(ops.ListFacts)

    # --- agents
    register_agent = client_method(ops.RegisterAgent)
    list_agents = client_method(ops.ListAgents)
    get_agent = client_method(ops.GetAgent)
    get_agent_stats = client_method(ops.GetAgentStats)
    get_agent_memories = client_method(ops.GetAgentMemories)
    delete_agent = client_method(ops.DeleteAgent)

    # --- sessions
    create_session = client_method(ops.CreateSession)
    get_session = client_method(ops.GetSession)
    get_session_context = client_method(ops.GetSessionContext)
    get_session_memories = client_method(ops.GetSessionMemories)
    list_sessions = client_method(ops.ListSessions)
    update_session = client_method(ops.UpdateSession)
    close_session = client_method(ops.CloseSession)


class Memtrace(_ClientMethods):
    """The synchronous client.

    `Memtrace(base_url, api_key)` talks to a memtrace server; `Memtrace.open(path)` runs the engine in-process
    on the embedded store. Both have the same methods and raise the same errors.
    """

    _is_async = False
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
        sweep_every: float | None = DEFAULT_SWEEP_INTERVAL_SECONDS,
        **engine_options: Any,
    ) -> Self:
        """Run memtrace in-process on the embedded SQLite store in directory `path`
        (default: $MEMTRACE_DATA_DIR, else ./data). Several processes may open one directory.

        `arc=ArcConfig(url=..., token=..., database=..., measurement=...)` keeps memories in Arc instead (metadata
        and the write spool stay in `path`).

        While the client is open, a background thread deletes the org's expired memories, and those its retention
        policy no longer keeps, every `sweep_every` seconds (first a minute after opening; None: never, e.g.
        when a server sweeps the same store). See `memtrace.sweeper`."""
        engine = open_engine(
            path, org_id=org_id, dedup_window_hours=dedup_window_hours, arc=arc, **engine_options
        )
        return cls.from_backend(LocalBackend(engine, org_id, sweep_every=sweep_every))

    @classmethod
    def from_env(cls) -> Self:
        """Remote when MEMTRACE_URL and MEMTRACE_API_KEY are set; else in-process on the store
        MEMTRACE_STORE_URL names (``postgresql://...``, ``sqlite:///...``, as the server takes it); else
        embedded in MEMTRACE_DATA_DIR. In-process, the org is MEMTRACE_ORG_ID (default org_default)."""
        remote = _env_remote()
        if remote:
            return cls(*remote)
        return cls.open(_env_store_url(), org_id=os.environ.get("MEMTRACE_ORG_ID") or DEFAULT_ORG_ID)

    def execute(self, op: Operation[R], /) -> R:
        """(extension) Carry out one `memtrace.operations` operation and return its result."""
        return self._backend.execute(op)

    def iter_memories(
        self, opts: ListOptions | None = None, *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[Memory]:
        """(extension) Every memory matching `opts` (its filters and order, from `opts.offset`, at most
        `opts.limit` in total, else all), fetched `page_size` at a time."""
        pages = MemoryPages(opts, page_size=page_size)
        while (op := pages.next_page()) is not None:
            yield from pages.take(self._backend.execute(op))

    # --- lifecycle
    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncMemtrace(_ClientMethods):
    """The asynchronous client: `Memtrace`'s methods as coroutines. In-process work runs in a worker thread,
    so the event loop is never blocked. A remote client may be used from several event loops (one after
    another, or in several threads at once)."""

    _is_async = True
    _backend: AsyncBackend

    def __init__(self, base_url: str, api_key: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._backend = _async_remote_backend(base_url, api_key, timeout)

    @classmethod
    def from_backend(cls, backend: AsyncBackend) -> Self:
        """A client over any `AsyncBackend` (for tests and custom transports)."""
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
        sweep_every: float | None = DEFAULT_SWEEP_INTERVAL_SECONDS,
        **engine_options: Any,
    ) -> Self:
        """Run memtrace in-process on the embedded store in directory `path` (see `Memtrace.open`)."""
        engine = open_engine(
            path, org_id=org_id, dedup_window_hours=dedup_window_hours, arc=arc, **engine_options
        )
        return cls.from_backend(AsyncLocalBackend(LocalBackend(engine, org_id, sweep_every=sweep_every)))

    @classmethod
    def from_env(cls) -> Self:
        """Remote when MEMTRACE_URL and MEMTRACE_API_KEY are set, else in-process on MEMTRACE_STORE_URL, else
        embedded in MEMTRACE_DATA_DIR (see `Memtrace.from_env`)."""
        remote = _env_remote()
        if remote:
            return cls(*remote)
        return cls.open(_env_store_url(), org_id=os.environ.get("MEMTRACE_ORG_ID") or DEFAULT_ORG_ID)

    async def execute(self, op: Operation[R], /) -> R:
        """(extension) Carry out one `memtrace.operations` operation and return its result."""
        return await self._backend.execute(op)

    async def iter_memories(
        self, opts: ListOptions | None = None, *, page_size: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[Memory]:
        """(extension) Every memory matching `opts`, fetched `page_size` at a time (see `Memtrace.iter_memories`)."""
        pages = MemoryPages(opts, page_size=page_size)
        while (op := pages.next_page()) is not None:
            for memory in pages.take(await self._backend.execute(op)):
                yield memory

    async def close(self) -> None:
        await self._backend.close()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
