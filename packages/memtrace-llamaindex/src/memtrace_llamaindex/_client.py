"""The memtrace client an adapter talks through, and how it survives pickling.

LlamaIndex calls chat stores from both worlds: `ChatMemoryBuffer.get()` is sync, agents and the new `Memory`
are async. Calls go through memtrace-core's `ClientBridge` (an `AsyncMemtrace` is awaited, a sync `Memtrace`
runs in a worker thread, so the event loop never blocks). What stays here is LlamaIndex-specific: a component
is rebuilt by pydantic and pickled by workflows, so it holds a `ClientBinding` that finds its client again.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from typing import Any

from memtrace import AsyncMemtrace, Memtrace, ValidationError
from memtrace.bridge import AnyMemtrace, ClientBridge, check_client
from memtrace.ids import id_for_key

AnyClient = AnyMemtrace


class ClientNotBoundError(RuntimeError):
    """An adapter object was unpickled in a process where its memtrace client does not exist."""


_LIVE_BINDINGS: weakref.WeakValueDictionary[str, ClientBinding] = weakref.WeakValueDictionary()
"""Every binding alive in this process, by token, so an unpickled adapter finds its client again."""


class ClientBinding:
    """The client an adapter object talks through, as a `ClientBridge` for async callers and one for sync ones.

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
            check_client(client)
        if async_client is not None:
            check_client(async_client, "async_client")
        self._client: AnyClient | None = client if client is not None else async_client
        self._async_client = async_client
        self._bridge: ClientBridge | None = None
        self._sync_bridge: ClientBridge | None = None
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
            self._client = Memtrace.from_env()
        return self._client

    @property
    def bridge(self) -> ClientBridge:
        """For async callers: the native async client when there is one, else the sync client (run in worker
        threads by the bridge)."""
        if self._bridge is None:
            self._bridge = ClientBridge(self._async_client or self.client)
        return self._bridge

    def sync_bridge(self) -> ClientBridge:
        """For sync callers (``ChatMemoryBuffer.get/put``): the sync client when there is one. An
        `AsyncMemtrace` works too: the bridge runs an embedded one directly and a remote one on its own
        background loop, so sync calls work with no loop running, after ``asyncio.run``, and from threads."""
        if self._sync_bridge is None:
            self._sync_bridge = ClientBridge(self.client)
        return self._sync_bridge

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


def session_for_key(key: str) -> str:
    """The memtrace session id of a LlamaIndex chat key. Any non-empty string works (UUIDs, e-mails); the
    mapping is deterministic, so every process and client finds the same session."""
    try:
        return id_for_key(key)
    except ValueError:
        raise ValidationError(
            f"invalid key {key!r}: a chat store key must be a non-empty string", "key"
        ) from None
