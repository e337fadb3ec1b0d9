"""One awaitable face over both memtrace clients, so every adapter piece takes either kind.

The Agents SDK is async throughout. An `AsyncMemtrace` is awaited directly; a sync `Memtrace` does blocking
work (SQLite or HTTP), so its calls go to a worker thread and never stall the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from typing import Any, TypeAlias

from memtrace import AsyncMemtrace, ConflictError, CreateSessionRequest, Memtrace

AnyMemtrace: TypeAlias = AsyncMemtrace | Memtrace
"""A memtrace client of either flavour, embedded or remote."""


class ClientCaller:
    """Calls methods of a sync or async memtrace client with ``await``."""

    def __init__(self, client: AnyMemtrace) -> None:
        self.client = client
        # Duck-typed as well, so any client with the memtrace method names (e.g. memtrace-sdk's) works.
        self.is_async = isinstance(client, AsyncMemtrace) or inspect.iscoroutinefunction(
            getattr(client, "add_memory", None)
        )

    async def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        fn = getattr(self.client, method)
        if self.is_async:
            return await fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def close(self) -> None:
        """Close the client (used only for clients this package created itself)."""
        if self.is_async:
            closer = getattr(self.client, "aclose", None) or self.client.close
            result = closer()
            if inspect.isawaitable(result):
                await result
        else:
            await asyncio.to_thread(self.client.close)


async def ensure_session_row(caller: ClientCaller, session_id: str, agent_id: str, key: str) -> None:
    """Create the memtrace session row so the conversation is listable and has a context.

    Session ids on memories are free-form, but `list_sessions` and `get_session_context` need the row.
    The user's original key is kept in its metadata, since `id_for_key` may have rewritten it.
    """
    # ConflictError means it already exists: another process, an earlier run, or the tools created it.
    with contextlib.suppress(ConflictError):
        await caller.call(
            "create_session",
            CreateSessionRequest(
                id=session_id, agent_id=agent_id, metadata={"key": key, "source": "openai-agents"}
            ),
        )
