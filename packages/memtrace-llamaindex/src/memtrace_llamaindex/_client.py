"""The memtrace client an adapter talks to, seen from sync and from async code.

LlamaIndex calls chat stores from both worlds: `ChatMemoryBuffer.get()` is sync, agents and the new `Memory`
are async. A user hands us one client. A sync `Memtrace` serves sync calls directly and async calls in a
worker thread (so the event loop never blocks); an `AsyncMemtrace` serves async calls natively.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, cast

from memtrace import AsyncMemtrace, Memtrace, ValidationError
from memtrace.ids import ID_PATTERN, id_for_key

AnyClient = Memtrace | AsyncMemtrace


def resolve_client(client: AnyClient | None) -> AnyClient:
    """The given client, or one configured from the environment (`Memtrace.from_env()`: remote when
    MEMTRACE_URL and MEMTRACE_API_KEY are set, else embedded in MEMTRACE_DATA_DIR)."""
    if client is None:
        return Memtrace.from_env()
    if not isinstance(client, (Memtrace, AsyncMemtrace)):
        raise TypeError(
            f"client must be a memtrace.Memtrace or memtrace.AsyncMemtrace, not {type(client).__name__}"
        )
    return client


class ThreadedAsyncClient:
    """An async face for a sync `Memtrace`: every method becomes a coroutine that runs the call in a worker
    thread. It has the method names of `AsyncMemtrace`, so adapter code awaits one interface."""

    def __init__(self, client: Memtrace) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


def async_view(client: AnyClient) -> AsyncMemtrace:
    """The async interface of either kind of client."""
    if isinstance(client, AsyncMemtrace):
        return client
    return cast(AsyncMemtrace, ThreadedAsyncClient(client))


def sync_view(client: AnyClient, owner: str) -> Memtrace:
    """The sync interface, which only a sync client has: an `AsyncMemtrace` is bound to its event loop."""
    if isinstance(client, Memtrace):
        return client
    raise TypeError(
        f"{owner} was given an AsyncMemtrace, so only its async methods work. Sync callers (e.g. "
        "ChatMemoryBuffer.get/put) need a sync client: pass client=Memtrace(...) "
        "(and async_client=AsyncMemtrace(...) for native async)."
    )


class ClientBinding:
    """The client an adapter object talks through, with its sync and async faces.

    Resolved on first use, so an adapter rebuilt by pydantic without its constructor (`model_validate`, e.g. a
    workflow restoring its context) still works: it falls back to `Memtrace.from_env()`. Copies share the
    binding: a client is a handle on a store, not a value to duplicate.
    """

    def __init__(self, client: AnyClient | None = None, async_client: AsyncMemtrace | None = None) -> None:
        if client is not None:
            client = resolve_client(client)
        self._client: AnyClient | None = client if client is not None else async_client
        self._async_client = async_client

    @property
    def client(self) -> AnyClient:
        if self._client is None:
            self._client = resolve_client(None)
        return self._client

    @property
    def aclient(self) -> AsyncMemtrace:
        """The native async client when there is one, else the sync client run in worker threads."""
        if self._async_client is None:
            self._async_client = async_view(self.client)
        return self._async_client

    def sync(self, owner: str) -> Memtrace:
        return sync_view(self.client, owner)

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientBinding:
        return self


def check_agent_id(agent_id: str, field: str = "agent_id") -> str:
    """Fail at construction, naming the field, rather than on the first write."""
    if not isinstance(agent_id, str) or not ID_PATTERN.fullmatch(agent_id):
        raise ValidationError(
            f"invalid {field} {agent_id!r}: must start with a letter and contain only letters, digits, "
            "'_' or '-', max 128 chars",
            field,
        )
    return agent_id


def session_for_key(key: str) -> str:
    """The memtrace session id of a LlamaIndex chat key. Any non-empty string works (UUIDs, e-mails); the
    mapping is deterministic, so every process and client finds the same session."""
    try:
        return id_for_key(key)
    except ValueError:
        raise ValidationError(
            f"invalid key {key!r}: a chat store key must be a non-empty string", "key"
        ) from None
