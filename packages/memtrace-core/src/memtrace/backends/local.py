"""In-process backends: the engine bound to one organisation."""

from __future__ import annotations

import asyncio
from typing import Any

from ..engine import Engine

# The engine methods a client may call; anything else is a programming error, not a remote call.
CLIENT_METHODS = frozenset(
    {
        "add_memory",
        "add_memories",
        "list_memories",
        "search_memories",
        "get_memory",
        "delete_memory",
        "delete_memories",
        "register_agent",
        "list_agents",
        "get_agent",
        "get_agent_stats",
        "get_agent_memories",
        "delete_agent",
        "create_session",
        "get_session",
        "update_session",
        "close_session",
        "list_sessions",
        "get_session_memories",
        "get_session_context",
    }
)


class LocalBackend:
    """Calls the engine directly, scoped to `org_id` (the client's configuration, never the caller's input)."""

    def __init__(self, engine: Engine, org_id: str, *, owns_engine: bool = True) -> None:
        self.engine = engine
        self.org_id = org_id
        self._owns_engine = owns_engine

    def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        if method not in CLIENT_METHODS:
            raise AttributeError(method)
        return getattr(self.engine, method)(self.org_id, *args, **kwargs)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.close()


class AsyncLocalBackend:
    """The same, run in a worker thread so the event loop never waits on SQLite."""

    def __init__(self, local: LocalBackend) -> None:
        self.local = local

    async def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.local.call, method, *args, **kwargs)

    async def close(self) -> None:
        await asyncio.to_thread(self.local.close)
