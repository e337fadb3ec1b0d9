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
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import httpx

from ..errors import MemtraceError, ServiceUnavailableError
from .plans import HttpReply, HttpRequest, adrive, drive, error_for_status

if TYPE_CHECKING:
    from ..operations import Operation

R = TypeVar("R")

USER_AGENT = "memtrace-python"

POOL_SIZE = 8
"""Connections per event loop for `AsyncHttpBackend`, all kept alive, with callers queueing on our own
semaphore before they reach httpcore.

Measured with 1,000 concurrent calls through one client (bench/remote_fanout.py): httpx's defaults
(100 connections, 20 kept alive) took 9 s on this 2-core machine. Two causes, both in httpcore's pool:
it closes an idle connection whenever the pool holds more than `max_keepalive_connections` connections in
total, so above 20 every burst reconnects; and every request entering or leaving the pool scans each queued
request against each connection (with a socket-readability check per connection, and a count of all
connections per connection), so 1,000 queued requests on 100 connections cost O(requests x connections^2).
Queueing on an `asyncio.Semaphore` keeps httpcore's queue at most `POOL_SIZE` long, and a small pool keeps the
per-request scan short: 8 connections measured fastest of 4, 8, 16, 32 and 64 against one server process."""

ASYNC_POOL_LIMITS = httpx.Limits(
    max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE, keepalive_expiry=30.0
)

SYNC_POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=30.0)
"""A thread holds one connection per call; keep every one alive (httpx's 20 would make > 20 threads reconnect)."""


def _headers(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key, "user-agent": USER_AGENT, "accept": "application/json"}


def _content_headers(request: HttpRequest) -> dict[str, str] | None:
    return {"content-type": request.content_type} if request.content is not None else None


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
            limits=SYNC_POOL_LIMITS,
        )

    def send(self, request: HttpRequest) -> HttpReply:
        """Send one planned request."""
        try:
            if request.sink is not None:
                return self._stream(request, request.sink)
            response = self._client.request(
                request.method,
                request.path,
                params=request.params,
                content=request.content,
                headers=_content_headers(request),
            )
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return _reply(request, response)

    def _stream(self, request: HttpRequest, sink: Callable[[bytes], None]) -> HttpReply:
        with self._client.stream(
            request.method,
            request.path,
            params=request.params,
            content=request.content,
            headers=_content_headers(request),
        ) as response:
            if response.status_code >= 400:
                response.read()
                return _reply(request, response)
            for chunk in response.iter_bytes():
                sink(chunk)
            return HttpReply(request, response.status_code, b"")

    def execute(self, op: Operation[R], /) -> R:
        return drive(op.http(), self.send)

    def close(self) -> None:
        self._client.close()


@dataclass(slots=True)
class _LoopClient:
    """The httpx client of one event loop, and the async generator that closes it when that loop shuts down."""

    client: httpx.AsyncClient
    slots: asyncio.Semaphore
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

    async def _bound(self) -> _LoopClient:
        loop = asyncio.get_running_loop()
        bound = self._clients.get(loop)
        if bound is not None:
            return bound
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        return await self._bind(loop)

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> _LoopClient:
        with self._lock:
            # Loops that ended without shutting down their async generators leave their clients behind.
            for gone in [other for other in self._clients if other.is_closed()]:
                del self._clients[gone]
            bound = self._clients.get(loop)
            if bound is not None:
                return bound
            bound = _LoopClient(
                httpx.AsyncClient(
                    base_url=self.base_url,
                    headers=_headers(self._api_key),
                    timeout=self._timeout,
                    transport=self._transport,
                    limits=ASYNC_POOL_LIMITS,
                ),
                asyncio.Semaphore(POOL_SIZE),
            )
            self._clients[loop] = bound
        # An async generator first iterated in this loop is closed by the loop's shutdown_asyncgens(), which
        # asyncio.run() and asyncio.Runner call before closing the loop: the one hook asyncio offers for
        # "this loop is ending", and the moment its connections can still be closed cleanly.
        bound.closer = self._close_at_shutdown(loop, bound)
        await anext(bound.closer)
        return bound

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
        bound = await self._bound()
        try:
            async with bound.slots:  # queue here, not in httpcore's pool (see POOL_SIZE)
                if request.sink is not None:
                    return await self._stream(bound.client, request, request.sink)
                response = await bound.client.request(
                    request.method,
                    request.path,
                    params=request.params,
                    content=request.content,
                    headers=_content_headers(request),
                )
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return _reply(request, response)

    @staticmethod
    async def _stream(
        client: httpx.AsyncClient, request: HttpRequest, sink: Callable[[bytes], None]
    ) -> HttpReply:
        async with client.stream(
            request.method,
            request.path,
            params=request.params,
            content=request.content,
            headers=_content_headers(request),
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                return _reply(request, response)
            async for chunk in response.aiter_bytes():
                sink(chunk)  # a local file write: brief, and in order
            return HttpReply(request, response.status_code, b"")

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


__all__ = [
    "ASYNC_POOL_LIMITS",
    "POOL_SIZE",
    "SYNC_POOL_LIMITS",
    "AsyncHttpBackend",
    "HttpBackend",
    "error_for",
]
