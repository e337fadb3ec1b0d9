"""The memtrace client an adapter talks to, seen from sync and from async code.

LlamaIndex calls chat stores from both worlds: `ChatMemoryBuffer.get()` is sync, agents and the new `Memory`
are async. A user hands us one client. A sync `Memtrace` serves sync calls directly and async calls in a
worker thread (so the event loop never blocks); an `AsyncMemtrace` serves async calls natively.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
import weakref
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


class ClientNotBoundError(RuntimeError):
    """An adapter object was unpickled in a process where its memtrace client does not exist."""


_LIVE_BINDINGS: weakref.WeakValueDictionary[str, ClientBinding] = weakref.WeakValueDictionary()
"""Every binding alive in this process, by token, so an unpickled adapter finds its client again."""


class ClientBinding:
    """The client an adapter object talks through, with its sync and async faces.

    Without a client it resolves `Memtrace.from_env()` on first use, so an adapter rebuilt by pydantic without
    its constructor (`model_validate`, e.g. a workflow restoring its context) still works. Copies share the
    binding: a client is a handle on a store, not a value to duplicate.

    Pickling keeps the binding, never the client (a live connection): unpickled in the same process, the
    adapter talks through the very same client; elsewhere, a binding that was given a client is *detached*
    and raises `ClientNotBoundError` on use until the adapter is re-bound (``store.bind(client)``). It never
    falls back to the environment, which could silently read and write another data directory or server.
    """

    def __init__(
        self,
        client: AnyClient | None = None,
        async_client: AsyncMemtrace | None = None,
        *,
        detached: bool = False,
    ) -> None:
        if client is not None:
            client = resolve_client(client)
        self._client: AnyClient | None = client if client is not None else async_client
        self._async_client = async_client
        self._from_env = self._client is None and not detached
        self._detached = detached
        self._token = uuid.uuid4().hex
        _LIVE_BINDINGS[self._token] = self

    @property
    def client(self) -> AnyClient:
        if self._client is None:
            if self._detached:
                raise ClientNotBoundError(
                    "this memtrace adapter was unpickled in a process where its memtrace client does not "
                    "exist (a client is a live connection, so it is not pickled). Re-bind it before use, "
                    "e.g. store.bind(Memtrace.open('./data')) or chat_memory.chat_store.bind(client)."
                )
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

    def __reduce__(self) -> tuple[Callable[..., ClientBinding], tuple[str, bool]]:
        return _restore_binding, (self._token, self._from_env)


def _restore_binding(token: str, from_env: bool) -> ClientBinding:
    """Unpickling: the same binding if it is alive in this process; else the environment for a binding that
    came from it, and a detached binding for one that was given a client."""
    live = _LIVE_BINDINGS.get(token)
    if live is not None:
        return live
    return ClientBinding() if from_env else ClientBinding(detached=True)


class ClientBound:
    """Pickling and re-binding for LlamaIndex components that hold a `ClientBinding` as ``_binding``.

    LlamaIndex's `BaseComponent` unpickles by re-running ``__init__`` with the pickled fields only, which
    would give the component a fresh binding (and so the environment's client); the pickled binding is put
    back afterwards.
    """

    _binding: ClientBinding

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)  # type: ignore[misc]
        binding = (state.get("__pydantic_private__") or {}).get("_binding")
        self._binding = binding if isinstance(binding, ClientBinding) else ClientBinding(detached=True)

    def bind(self, client: AnyClient, *, async_client: AsyncMemtrace | None = None) -> None:
        """Talk through `client` (and `async_client` for native async) from now on, e.g. after unpickling
        in another process."""
        self._binding = ClientBinding(client, async_client)


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
