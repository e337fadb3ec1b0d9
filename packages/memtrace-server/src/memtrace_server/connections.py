"""Bounds on what one HTTP connection can hold: header size, the time to send headers and a body, and how many
connections are open at once. uvicorn's httptools protocol has none of these (its keep-alive timeout only runs
between requests), so a client sending headers one byte at a time, a 64 MiB header, or a few hundred
half-open connections could each hold the server.

`bounded_protocol(limits)` is a subclass of uvicorn's `HttpToolsProtocol` with:

- a **header deadline**: from the moment a connection waits for a request (opened, or its previous response
  sent) its headers must arrive within ``server.header_timeout`` seconds; else 408 (or a silent close if
  nothing was sent) and the connection is closed;
- a **header size bound**: more than ``server.max_header_bytes`` before the headers end is 431, connection
  closed (checked per read, so at most one read, 256 KiB, beyond the bound is ever held);
- a **body deadline**: once the headers are in, the whole body must arrive within ``server.body_timeout``;
  else 408 and the request sees a disconnect;
- a **connection bound** (``server.max_connections``, by default derived from the descriptor limit): at the
  bound, a new connection closes the connection that has waited longest for a request, or is refused when
  every connection is busy with a request. Idle and half-open connections are what a flood is made of, so they
  are what gets shed; a normal client sends its headers at once and is never idle for long.

Timers cost one ``call_later`` per connection and per request with a body still to come; the single-write fast
path is otherwise untouched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("memtrace_server")

DESCRIPTOR_RESERVE = 64
"""Descriptors kept for the store (SQLite files, one connection per worker thread), logs and the listener."""
MAX_AUTO_CONNECTIONS = 10_000


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int
    header_timeout: float
    body_timeout: float
    max_connections: int


def connection_bound(configured: int) -> int:
    """`configured`, or when 0, what the process's descriptor limit allows with room for the store."""
    if configured > 0:
        return configured
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_AUTO_CONNECTIONS
    return max(16, min(MAX_AUTO_CONNECTIONS, soft - max(DESCRIPTOR_RESERVE, soft // 8)))


def _reply(status: int, reason: str, message: str, field: str | None = None) -> bytes:
    body = json.dumps({"error": message, **({"field": field} if field else {})}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def bounded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` enforcing `limits` (one class per server)."""
    waiting: OrderedDict[BoundedHttpToolsProtocol, None] = OrderedDict()

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._timer: asyncio.TimerHandle | None = None
            self._phase = "head"  # head: waiting for headers; body: receiving the body; busy: answering
            self._message_begun = False
            self._head_bytes = 0
            self._heads_completed = 0

        # -- connection bound
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            full = len(self.connections) >= limits.max_connections
            super().connection_made(transport)
            if full:
                victim = next(iter(waiting), None)
                if victim is None:
                    log.warning("connection refused: %d connections are busy", limits.max_connections)
                    transport.close()
                    return
                waiting.pop(victim, None)
                victim._cancel_timer()
                victim.transport.close()
            self._wait_for_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_timer()
            waiting.pop(self, None)
            super().connection_lost(exc)

        # -- phases
        def _wait_for_head(self) -> None:
            self._phase = "head"
            self._head_bytes = 0
            waiting[self] = None
            if self._timer is None:
                self._timer = self.loop.call_later(limits.header_timeout, self._head_timed_out)

        def _cancel_timer(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._message_begun = True
            if self._phase != "head":  # a pipelined request began while the previous one is answered
                self._cancel_timer()
                self._wait_for_head()

        def on_headers_complete(self) -> None:
            self._cancel_timer()
            waiting.pop(self, None)
            self._phase = "body"
            self._heads_completed += 1
            self._timer = self.loop.call_later(limits.body_timeout, self._body_timed_out)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            if self._phase == "body":
                self._cancel_timer()
                self._message_begun = False
                if self.cycle is not None and self.cycle.response_complete:
                    self._wait_for_head()  # answered early; the unread body is drained: idle again
                else:
                    self._phase = "busy"
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._phase == "busy" and not self.transport.is_closing() and not self.pipeline:
                self._wait_for_head()

        def data_received(self, data: bytes) -> None:
            completed = self._heads_completed
            super().data_received(data)
            if (
                self._phase == "head"
                and self._heads_completed == completed
                and not self.transport.is_closing()
            ):
                self._head_bytes += len(data)
                if self._head_bytes > limits.max_header_bytes:
                    message = f"request headers too large: the limit is {limits.max_header_bytes} bytes"
                    self._refuse(_reply(431, "Request Header Fields Too Large", message, "headers"))

        # -- deadlines
        def _head_timed_out(self) -> None:
            self._timer = None
            if self._phase != "head" or self.transport.is_closing():
                return
            if self._message_begun:
                message = f"request headers not received within {limits.header_timeout:g} seconds"
                self._refuse(_reply(408, "Request Timeout", message))
            else:
                self.transport.close()

        def _body_timed_out(self) -> None:
            self._timer = None
            if self._phase != "body" or self.transport.is_closing():
                return
            message = f"request body not received within {limits.body_timeout:g} seconds"
            self._refuse(_reply(408, "Request Timeout", message, "body"))

        def _refuse(self, reply: bytes) -> None:
            """Answer `reply` if nothing else is being answered on this connection, then close it."""
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                if self._phase == "head":  # a next request's head; a drained body's deadline just closes
                    self.transport.write(reply)
            elif self._phase == "body":
                # The app may be waiting for the body: it sees a disconnect, and anything it sends is dropped.
                started = cycle.response_started
                cycle.disconnected = True
                cycle.message_event.set()
                if not started:
                    self.transport.write(reply)
            self.transport.close()

    return BoundedHttpToolsProtocol
