"""Remote backends: the client API over HTTP to a memtrace server, with httpx.

`HttpBackend` and `AsyncHttpBackend` drive the same request plan per operation (``Operation.http()``, built
without I/O; see `memtrace.backends.plans`, which also holds the status-to-exception table); only the transport
differs. A server that cannot be reached (connection refused, timeout) raises `ServiceUnavailableError`: like a
503, the call may succeed if retried later.

An httpx `AsyncClient` and its connections belong to the event loop that first used them. `AsyncHttpBackend`
therefore keeps one per running loop, made on first use in that loop and closed when that loop shuts down
(``asyncio.run`` ends, a thread's loop finishes) or on `close()`. So one `AsyncMemtrace` serves
``asyncio.run(a()); asyncio.run(b())`` and several threads each running its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import httpx

from ..errors import MemtraceError, ServiceUnavailableError
from .plans import HttpReply, HttpRequest, adrive, drive, error_for_status

if TYPE_CHECKING:
    from ..operations import Operation

R = TypeVar("R")

USER_AGENT = "memtrace-python"
_JSON_HEADERS = {"content-type": "application/json"}

# Connections kept per client. httpx keeps only 20 idle connections by default, so a burst of 100 concurrent
# calls opens 100 connections and then closes 80 of them, and the next burst reconnects: keep them all.
POOL_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=30.0)


def _headers(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key, "user-agent": USER_AGENT, "accept": "application/json"}


def _reply(request: HttpRequest, response: httpx.Response) -> HttpReply:
    return HttpReply(request, response.status_code, response.content, response.headers.get("retry-after"))


def _unreachable(base_url: str, exc: httpx.TransportError) -> ServiceUnavailableError:
    return ServiceUnavailableError(f"cannot reach the memtrace server at {base_url}: {exc!r}")


def error_for(response: httpx.Response) -> MemtraceError:
    """The memtrace exception for an error response."""
    return error_for_status(response.status_code, response.content, response.headers.get("retry-after"))


class HttpBackend:
    """The client API against a memtrace server (synchronous). Thread-safe: share one per process."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=_headers(api_key),
            timeout=timeout,
            transport=transport,
            limits=POOL_LIMITS,
        )

    def send(self, request: HttpRequest) -> HttpReply:
        """Send one planned request."""
        try:
            response = self._client.request(
                request.method,
                request.path,
                params=request.params,
                content=request.content,
                headers=_JSON_HEADERS if request.content is not None else None,
            )
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return _reply(request, response)

    def execute(self, op: Operation[R], /) -> R:
        return drive(op.http(), self.send)

    def close(self) -> None:
        self._client.close()


@dataclass(slots=True)
class _LoopClient:
    """The httpx client of one event loop, and the async generator that closes it when that loop shuts down."""

    client: httpx.AsyncClient
    closer: AsyncGenerator[None, None] | None = None


class AsyncHttpBackend:
    """The client API against a memtrace server (asyncio), usable from any number of event loops."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._transport = transport
        self._lock = threading.Lock()
        self._clients: dict[asyncio.AbstractEventLoop, _LoopClient] = {}
        self._closed = False

    async def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        bound = self._clients.get(loop)
        if bound is not None:
            return bound.client
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        return await self._bind(loop)

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> httpx.AsyncClient:
        with self._lock:
            # Loops that ended without shutting down their async generators leave their clients behind.
            for gone in [other for other in self._clients if other.is_closed()]:
                del self._clients[gone]
            bound = self._clients.get(loop)
            if bound is not None:
                return bound.client
            bound = _LoopClient(
                httpx.AsyncClient(
                    base_url=self.base_url,
                    headers=_headers(self._api_key),
                    timeout=self._timeout,
                    transport=self._transport,
                    limits=POOL_LIMITS,
                )
            )
            self._clients[loop] = bound
        # An async generator first iterated in this loop is closed by the loop's shutdown_asyncgens(), which
        # asyncio.run() and asyncio.Runner call before closing the loop: the one hook asyncio offers for
        # "this loop is ending", and the moment its connections can still be closed cleanly.
        bound.closer = self._close_at_shutdown(loop, bound)
        await anext(bound.closer)
        return bound.client

    async def _close_at_shutdown(
        self, loop: asyncio.AbstractEventLoop, bound: _LoopClient
    ) -> AsyncGenerator[None]:
        try:
            yield
        finally:
            with self._lock:
                if self._clients.get(loop) is bound:
                    del self._clients[loop]
            await bound.client.aclose()

    async def send(self, request: HttpRequest) -> HttpReply:
        """Send one planned request on this loop's connections."""
        client = await self._client()
        try:
            response = await client.request(
                request.method,
                request.path,
                params=request.params,
                content=request.content,
                headers=_JSON_HEADERS if request.content is not None else None,
            )
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return _reply(request, response)

    async def execute(self, op: Operation[R], /) -> R:
        return await adrive(op.http(), self.send)

    async def close(self) -> None:
        """Close every loop's connections: this loop's now, a running loop's in that loop, a closed loop's are
        dropped (its sockets went with it)."""
        current = asyncio.get_running_loop()
        with self._lock:
            self._closed = True
            bound = dict(self._clients)
            self._clients.clear()
        for loop, entry in bound.items():
            if loop is current:
                await entry.client.aclose()
            elif not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed in between
                    asyncio.run_coroutine_threadsafe(entry.client.aclose(), loop)
            if entry.closer is not None and loop is current:
                await entry.closer.aclose()


__all__ = ["POOL_LIMITS", "AsyncHttpBackend", "HttpBackend", "error_for"]
