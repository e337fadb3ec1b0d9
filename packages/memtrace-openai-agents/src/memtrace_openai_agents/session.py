"""`MemtraceSession`: the Agents SDK's `Session` protocol, persisted in memtrace.

Every item the Runner hands over becomes one memory (see `items`), written in order, so a later process with
the same session id reads back exactly the same conversation. The behaviour mirrors the SDK's own
`SQLiteSession` (limits, pop, clear), which the test suite checks side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Generator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from agents.items import TResponseInputItem
from agents.memory import SessionSettings
from agents.memory.session_settings import coerce_session_settings

from memtrace import (
    AsyncMemtrace,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    NotFoundError,
    ValidationError,
    id_for_key,
)
from memtrace.ids import ID_PATTERN
from memtrace.operations import (
    AddMemories,
    AddMemory,
    CloseSession,
    CreateSession,
    DeleteMemories,
    DeleteMemory,
    GetSessionContext,
    ListMemories,
)

from ._client import AnyMemtrace, ClientBridge, ensure_session_row
from .items import SESSION_ITEM_TAG, item_from_memory, memory_request_for

DEFAULT_AGENT_ID = "openai-agents"
_PAGE = 1000  # the largest page memtrace serves

_T = TypeVar("_T")


async def _finish_despite_cancellation(awaitable: Awaitable[_T]) -> _T:
    """Let a started mutation finish even if the caller is cancelled, then re-raise the cancellation.

    A write abandoned half-way (an HTTP request cut off mid-flight) would leave the caller unsure whether the
    item was stored; the SDK's SQLiteSession guarantees an outcome the same way.
    """
    task = asyncio.ensure_future(awaitable)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError as exc:
            cancelled = cancelled or exc
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it; the caller gets the cancellation
        raise cancelled
    return task.result()


class _Closing:
    """What `MemtraceSession.close()` returns: awaiting it finishes the asynchronous part of closing (closing
    the memtrace session of a `MemtraceSession.create` session; closing a client the session owns)."""

    def __init__(self, steps: list[Awaitable[Any]]) -> None:
        self._steps = steps

    def __await__(self) -> Generator[Any, None, None]:
        steps, self._steps = self._steps, []
        for step in steps:
            yield from step.__await__()


CONTEXT_ITEM_PREFIX = "[System: Prior memory context for this agent]\n\n"
"""How `MemtraceSession.create` introduces injected memory context (as the original integration did)."""


class MemtraceSession:
    """Conversation history for the OpenAI Agents SDK, stored in memtrace.

    Pass it to ``Runner.run(agent, input, session=MemtraceSession("user-42"))``. Items are persistent: a new
    process (or a fresh client) with the same ``session_id`` continues the conversation, in order, with every
    Responses-API item (messages, function calls and their outputs, reasoning items) returned exactly as it
    was added.

    Args:
        session_id: Any non-empty string (a UUID, an e-mail…). It is mapped onto a memtrace session id with
            `memtrace.id_for_key` (see `memtrace_session_id`); pass the same key to `memtrace_tools` and
            `memtrace_instructions` to share the session.
        client: An `AsyncMemtrace` or `Memtrace`, embedded or remote. Default: ``AsyncMemtrace.from_env()``,
            created on first use and closed by `aclose`.
        agent_id: The memtrace agent recorded as author of the stored items.
        session_settings: Default ``limit`` for `get_items` when the caller gives none (as in SQLiteSession).
    """

    session_settings: SessionSettings | None = None

    def __init__(
        self,
        session_id: str,
        *,
        client: AnyMemtrace | None = None,
        agent_id: str = DEFAULT_AGENT_ID,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ValidationError("session_id must be a non-empty string", "session_id")
        if not isinstance(agent_id, str) or not ID_PATTERN.fullmatch(agent_id):
            raise ValidationError(
                "invalid agent_id: must start with a letter and contain only letters, digits, '_' or '-', "
                "max 128 chars",
                "agent_id",
            )
        self.session_id = session_id
        self.memtrace_session_id = id_for_key(session_id)
        """The memtrace session id the items are stored under."""
        self.agent_id = agent_id
        # The SDK's own coercion, so an unknown key ("limitt") is a TypeError exactly as in SQLiteSession.
        self.session_settings = (
            SessionSettings()
            if session_settings is None
            else coerce_session_settings(
                session_settings if isinstance(session_settings, SessionSettings) else dict(session_settings)
            )
        )
        self._caller = ClientBridge(client, owner="MemtraceSession") if client is not None else None
        self._owns_client = client is None
        self._session_row_ready = False
        self._closed = False
        self._close_memtrace_session = False  # set by `create`, whose `close()` closes the memtrace session

    @classmethod
    async def create(
        cls,
        client: AnyMemtrace,
        agent_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        inject_context: bool = True,
        context_since: str | None = None,
        context_max_tokens: int | None = None,
        persist_user_messages: bool = True,
        persist_assistant_messages: bool = False,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
    ) -> MemtraceSession:
        """The original Memtrace integration's constructor (``openai-agents-memtrace``), so code written for it
        runs unchanged: opens a new memtrace session for `agent_id` (its id becomes `session_id`) and, with
        `inject_context`, starts the conversation with that session's memory context when it has any.

        Unlike the original, which kept items in RAM and saved only message text, every item is persisted
        exactly, so ``MemtraceSession(session.session_id, client=client, agent_id=agent_id)`` continues the
        conversation in a later process. `persist_user_messages` and `persist_assistant_messages` are accepted
        for compatibility and change nothing: the Runner needs every item back. ``await session.close()``
        closes the memtrace session, as the original's did.
        """
        caller = ClientBridge(client)
        created = await caller.aexecute(
            CreateSession(
                CreateSessionRequest(
                    agent_id=agent_id, metadata={**(metadata or {}), "source": "openai-agents"}
                )
            )
        )
        session = cls(created.id, client=client, agent_id=agent_id, session_settings=session_settings)
        session._session_row_ready = True
        session._close_memtrace_session = True
        if inject_context:
            context = await caller.aexecute(
                GetSessionContext(
                    created.id, ContextOptions(since=context_since, max_tokens=context_max_tokens)
                )
            )
            if context.context and context.memory_count > 0:
                await session.add_items([{"role": "user", "content": CONTEXT_ITEM_PREFIX + context.context}])
        return session

    # -- client ---------------------------------------------------------------------------------------------

    @property
    def client(self) -> AnyMemtrace:
        """The memtrace client in use (created from the environment on first use if none was given)."""
        return self._get_caller().client

    def _get_caller(self) -> ClientBridge:
        if self._closed:
            raise RuntimeError("MemtraceSession is closed")
        if self._caller is None:
            # Lazy, so constructing a session does no I/O and needs no running event loop.
            self._caller = ClientBridge(AsyncMemtrace.from_env())
        return self._caller

    async def aclose(self) -> None:
        """Close the session: later calls raise `RuntimeError`, as on a closed SQLiteSession. The client is
        closed if this session created it; a client passed in stays open (its owner closes it)."""
        self._closed = True
        if self._owns_client and self._caller is not None:
            caller, self._caller = self._caller, None
            await caller.aclose()

    def close(self) -> _Closing:
        """Close the session at once, like `SQLiteSession.close()`; the result may also be awaited, like
        `AsyncSQLiteSession.close()`. A client this session created is closed right away where no event loop
        runs, and when the result is awaited inside one."""
        if self._closed:
            return _Closing([])
        self._closed = True
        steps: list[Awaitable[Any]] = []
        if self._close_memtrace_session and self._caller is not None:
            steps.append(self._caller.aexecute(CloseSession(self.memtrace_session_id)))
        if self._owns_client and self._caller is not None:
            caller, self._caller = self._caller, None
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(caller.aclose())
            else:
                steps.append(caller.aclose())
        return _Closing(steps)

    async def __aenter__(self) -> MemtraceSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- reading --------------------------------------------------------------------------------------------

    def _options(self, *, order: str, limit: int, offset: int = 0) -> ListOptions:
        return ListOptions(
            session_id=self.memtrace_session_id,
            tags=[SESSION_ITEM_TAG],
            order=order,  # type: ignore[arg-type]
            limit=limit,
            offset=offset,
        )

    async def _page(self, *, order: str, limit: int, offset: int = 0) -> tuple[list[Memory], bool]:
        result = await self._get_caller().aexecute(
            ListMemories(self._options(order=order, limit=limit, offset=offset))
        )
        return list(result.memories), bool(result.has_more)

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The conversation so far, oldest first; with ``limit``, the latest ``limit`` items (still oldest
        first). ``None`` falls back to ``session_settings.limit``; like SQLiteSession, 0 gives no items and a
        negative limit gives all of them."""
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        if limit is None or limit < 0:
            return await self._all_items()
        if limit == 0:
            return []
        return await self._latest_items(limit)

    async def _all_items(self) -> list[TResponseInputItem]:
        items: list[TResponseInputItem] = []
        offset = 0
        while True:
            memories, has_more = await self._page(order="asc", limit=_PAGE, offset=offset)
            items.extend(item for m in memories if (item := item_from_memory(m)) is not None)
            offset += len(memories)
            if not has_more or not memories:
                return items

    async def _latest_items(self, limit: int) -> list[TResponseInputItem]:
        newest_first: list[TResponseInputItem] = []
        offset = 0
        while len(newest_first) < limit:
            # Memories that are not well-formed items are skipped, so keep reading until `limit` items are found.
            want = min(_PAGE, limit - len(newest_first))
            memories, has_more = await self._page(order="desc", limit=want, offset=offset)
            newest_first.extend(item for m in memories if (item := item_from_memory(m)) is not None)
            offset += len(memories)
            if not has_more or not memories:
                break
        newest_first = newest_first[:limit]
        newest_first.reverse()
        return newest_first

    # -- writing --------------------------------------------------------------------------------------------

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append items in order. Nothing is written if any item is not a JSON-serialisable dict."""
        self._get_caller()  # a closed session refuses even an empty list, as SQLiteSession does
        if not items:
            return
        requests = [
            memory_request_for(item, index=i, agent_id=self.agent_id, session_id=self.memtrace_session_id)
            for i, item in enumerate(items)
        ]
        await _finish_despite_cancellation(self._write(requests))

    async def _write(self, requests: list[Any]) -> None:
        caller = self._get_caller()
        if not self._session_row_ready:
            await ensure_session_row(caller, self.memtrace_session_id, self.agent_id, self.session_id)
            self._session_row_ready = True
        if len(requests) == 1:
            await caller.aexecute(AddMemory(requests[0]))
        else:
            # One batch: all items or none, and in request order.
            await caller.aexecute(AddMemories(requests))

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the most recent item, or None if the session is empty."""
        return await _finish_despite_cancellation(self._pop())

    async def _pop(self) -> TResponseInputItem | None:
        caller = self._get_caller()
        while True:
            memories, _ = await self._page(order="desc", limit=1)
            if not memories:
                return None
            memory = memories[0]
            try:
                await caller.aexecute(DeleteMemory(memory.id))
            except NotFoundError:
                continue  # a concurrent pop took it first; look at the new newest item
            item = item_from_memory(memory)
            if item is not None:
                return item
            # Not a well-formed item: it is gone now, as SQLiteSession drops corrupt rows; keep looking.

    async def clear_session(self) -> None:
        """Delete every item of this session. Other memories in the same memtrace session (facts the tools
        remembered, decisions) are kept, and so is the session row."""
        await _finish_despite_cancellation(self._clear())

    async def _clear(self) -> None:
        # One atomic delete of exactly what `_options` reads (this session's items), like SQLiteSession's DELETE.
        await self._get_caller().aexecute(
            DeleteMemories(session_id=self.memtrace_session_id, tags=[SESSION_ITEM_TAG])
        )

    def __repr__(self) -> str:
        return f"MemtraceSession(session_id={self.session_id!r}, agent_id={self.agent_id!r})"
