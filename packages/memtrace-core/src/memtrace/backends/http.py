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
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass, field
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


BATCH_PATH = "/api/v1/batch"
BATCH_CONTENT_TYPE = "application/x-memtrace-batch"
BATCH_MAX_REQUESTS = 100
"""Requests packed into one batch; more wait for the next free connection."""
BATCH_MAX_BYTES = 1024 * 1024
"""Request bytes packed into one batch (the server refuses bodies over its limit, 32 MiB by default)."""


def batchable(request: HttpRequest) -> bool:
    """A request that can ride in a batch: not streamed, with a JSON body or none."""
    return request.sink is None and (request.content is None or request.content_type == "application/json")


def encode_batch(requests: list[HttpRequest]) -> bytes:
    """The batch body (framing in `memtrace_server.batch`): per request a header line, then its body."""
    parts: list[bytes] = []
    for request in requests:
        target = request.path
        if request.params:
            query = str(httpx.QueryParams(request.params))
            if query:
                target = f"{target}?{query}"
        content = request.content or b""
        parts.append(b"%s %s %d\n" % (request.method.encode("ascii"), target.encode("ascii"), len(content)))
        parts.append(content)
    return b"".join(parts)


def decode_batch(requests: list[HttpRequest], content: bytes) -> list[HttpReply]:
    """The replies of a batch, one per request in order; `ValueError` if the framing is broken."""
    replies: list[HttpReply] = []
    at = 0
    for request in requests:
        newline = content.index(b"\n", at)
        status, retry_after, length = content[at:newline].split(b" ")
        start = newline + 1
        end = start + int(length)
        if end > len(content):
            raise ValueError("batch reply shorter than its framing says")
        replies.append(
            HttpReply(
                request,
                int(status),
                content[start:end],
                None if retry_after == b"-" else retry_after.decode("ascii"),
            )
        )
        at = end
    if at != len(content):
        raise ValueError("batch reply longer than its framing says")
    return replies


@dataclass(slots=True)
class _LoopClient:
    """The httpx client of one event loop, and the async generator that closes it when that loop shuts down.

    `queued` holds requests waiting for a connection with the futures of their callers; `collector` is the
    task that will take them all as one batch when a connection frees (see `AsyncHttpBackend.send`)."""

    client: httpx.AsyncClient
    slots: asyncio.Semaphore
    closer: AsyncGenerator[None, None] | None = None
    queued: list[tuple[HttpRequest, asyncio.Future[HttpReply]]] = field(default_factory=list)
    collector: asyncio.Task[None] | None = None
    sending: set[asyncio.Task[None]] = field(default_factory=set)
    """Collectors under way (the loop keeps only weak references to tasks)."""

    def start_collector(self, collect: Callable[[_LoopClient], Coroutine[None, None, None]]) -> None:
        task = self.collector = asyncio.ensure_future(collect(self))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)


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
        self._batching = True

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
        """Send one planned request on this loop's connections.

        While every connection is busy, requests wait, and those waiting when one frees go together as one
        ``POST /api/v1/batch`` (each answered as if sent alone; see `memtrace_server.batch`): under fan-out
        (1,000 concurrent calls, a LangGraph ``abatch``) the per-request HTTP work on both ends, not the
        engine, was most of the time. A server without the batch route gets the requests one by one."""
        bound = await self._bound()
        if bound.slots.locked() and self._batching and batchable(request):
            future: asyncio.Future[HttpReply] = asyncio.get_running_loop().create_future()
            bound.queued.append((request, future))
            if bound.collector is None:
                bound.start_collector(self._collect)
            return await future
        try:
            async with bound.slots:  # queue here, not in httpcore's pool (see POOL_SIZE)
                return await self._send_now(bound.client, request)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc

    async def _send_now(self, client: httpx.AsyncClient, request: HttpRequest) -> HttpReply:
        if request.sink is not None:
            return await self._stream(client, request, request.sink)
        response = await client.request(
            request.method,
            request.path,
            params=request.params,
            content=request.content,
            headers=_content_headers(request),
        )
        return _reply(request, response)

    async def _collect(self, bound: _LoopClient) -> None:
        """Wait for a connection, take what has queued by then (up to the batch bounds), and send it."""
        try:
            await bound.slots.acquire()
        except BaseException:  # cancelled while waiting (the loop is ending): so are the waiting callers
            bound.collector = None
            for _, future in bound.queued:
                future.cancel()
            bound.queued.clear()
            raise
        try:
            taken: list[tuple[HttpRequest, asyncio.Future[HttpReply]]] = []
            size = 0
            while bound.queued and len(taken) < BATCH_MAX_REQUESTS and size < BATCH_MAX_BYTES:
                entry = bound.queued.pop(0)
                if not entry[1].done():  # a caller cancelled while waiting: its request is never sent
                    taken.append(entry)
                    size += len(entry[0].content or b"") + len(entry[0].path) + 64
            # Whatever is left waits for the next connection to free, in a collector of its own.
            bound.collector = None
            if bound.queued:
                bound.start_collector(self._collect)
            if taken:
                await self._answer(bound, taken)
        finally:
            bound.slots.release()

    async def _answer(
        self, bound: _LoopClient, taken: list[tuple[HttpRequest, asyncio.Future[HttpReply]]]
    ) -> None:
        try:
            replies = await self._send_batch(bound.client, [request for request, _ in taken])
        except Exception as exc:
            error = _unreachable(self.base_url, exc) if isinstance(exc, httpx.TransportError) else exc
            for _, future in taken:
                if not future.done():
                    future.set_exception(error)
            return
        except BaseException:
            for _, future in taken:
                future.cancel()
            raise
        for (_, future), reply in zip(taken, replies, strict=True):
            if not future.done():
                future.set_result(reply)

    async def _send_batch(self, client: httpx.AsyncClient, requests: list[HttpRequest]) -> list[HttpReply]:
        if len(requests) == 1:
            return [await self._send_now(client, requests[0])]
        response = await client.post(
            BATCH_PATH, content=encode_batch(requests), headers={"content-type": BATCH_CONTENT_TYPE}
        )
        if response.status_code in (404, 405):  # a server without the route: one by one from now on
            self._batching = False
        elif response.status_code == 200:
            try:
                replies = decode_batch(requests, response.content)
            except ValueError as exc:
                raise MemtraceError(f"unexpected batch reply from the server: {exc}") from None
            # 413 in a batch: not run, the batch's replies passed the server's budget first; send it alone.
            return [
                await self._send_now(client, reply.request) if reply.status == 413 else reply
                for reply in replies
            ]
        elif response.status_code != 413:
            # Refused as a whole (authentication, rate limit, unavailable): each request's own answer.
            return [_reply(request, response) for request in requests]
        # One by one, on this connection (the semaphore slot held by the caller).
        return [await self._send_now(client, request) for request in requests]

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
    "BATCH_MAX_REQUESTS",
    "POOL_SIZE",
    "SYNC_POOL_LIMITS",
    "AsyncHttpBackend",
    "HttpBackend",
    "error_for",
]
