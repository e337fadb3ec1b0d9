"""One pure-ASGI middleware for what every request needs: latency metrics, authentication, the body size
limit, ids containing ``/``, and the routes served without the app (`memtrace_server.fastpath`).

Order matters, and nothing reads a body before the caller is known: a body larger than the limit is refused
from its ``Content-Length``; then every ``/api/`` request is authenticated from its headers (bad key, ambiguous
credentials, rate limit: answered here, body unread); only then is a body read, with the limit enforced while
streaming when there is no ``Content-Length``. An answer that leaves a large or chunked body unread closes the
connection, so the server never drains what it refused.

It is a single layer on purpose: each Starlette ``BaseHTTPMiddleware`` costs tens of microseconds per request,
a plain ASGI callable almost nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import batch
from .auth import PRINCIPAL_SCOPE_KEY
from .errors import describe
from .keys import Principal
from .metrics import Metrics

log = logging.getLogger("memtrace_server")

DirectHandler = Callable[[Scope, bytes], Awaitable[tuple[int, bytes, dict[str, str]] | None]]
Authenticate = Callable[[Scope], Awaitable[Principal]]

DRAIN_LIMIT = 1024 * 1024
"""An unread body up to this size (declared by ``Content-Length``) is drained and dropped by the HTTP server
after an early answer, so the client reads that answer on a kept-alive connection; a larger or chunked one
closes the connection instead."""

ENCODED_SLASH = "\ue000"
"""Stands for ``%2F`` inside a path segment while routing (a private-use character no id contains)."""


def decode_segment(value: str) -> str:
    """A path parameter as the client meant it: ``team%2Fbot`` arrives as ``team/bot``."""
    return value.replace(ENCODED_SLASH, "/") if ENCODED_SLASH in value else value


def _path_keeping_encoded_slashes(raw_path: bytes) -> str:
    # The SDK quotes ids with safe='' (spec §9.1). ASGI servers decode %2F into "/", which would split one
    # id into two path segments; decode everything else, keep "%2F" as one character until the handler.
    text = raw_path.decode("latin-1").replace("%2F", "%EE%80%80").replace("%2f", "%EE%80%80")
    return unquote(text, encoding="utf-8", errors="replace")


class ServerMiddleware:
    """`authenticate` turns an ``/api/`` request's scope into its caller, or raises (401, 429...);
    `direct` maps (method, path) to handlers served here without the app (see `memtrace_server.fastpath`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        max_batch_reply_bytes: int = batch.MAX_REPLY_BYTES,
        authenticate: Authenticate | None = None,
        direct: Mapping[tuple[str, str], DirectHandler] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes
        self.max_batch_reply = max_batch_reply_bytes
        self.authenticate = authenticate
        self.direct = dict(direct or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        raw_path = scope.get("raw_path")
        if raw_path and b"%2" in raw_path and b"%2f" in raw_path.lower():
            scope = dict(scope)
            scope["path"] = _path_keeping_encoded_slashes(raw_path)

        status = 500
        label: str | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            length = _content_length(scope)
            if length is not None and length > self.max_body:
                await self._too_large(send_wrapper, scope, length)
                return
            if (
                self.authenticate is not None
                and scope["path"].startswith("/api/")
                and scope["method"] != "OPTIONS"  # CORS preflights carry no credentials
            ):
                try:
                    scope[PRINCIPAL_SCOPE_KEY] = await self.authenticate(scope)
                except Exception as exc:
                    reply = describe(exc)
                    self.metrics.errors.labels(reply.kind).inc()
                    headers = {**reply.headers, **_close_if_body_unread(scope, length)}
                    await _send(send_wrapper, reply.status, reply.body, headers)
                    return
            handler = self.direct.get((scope["method"], scope["path"])) if self.direct else None
            if handler is None and scope["method"] == "POST" and scope["path"] == batch.PATH:
                handler = self._batch_handler(receive)
            if handler is not None:
                label = scope["path"]
                body, too_large = await _read_limited(receive, self.max_body)
                if too_large:
                    await self._too_large(send_wrapper, scope, length)
                    return
                answer = await handler(scope, body)
                if answer is not None:
                    await _send(send_wrapper, *answer)
                    return
                label = None  # declined: the app answers
                receive = _replay(body, receive)
            elif length is None and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
                # Chunked body: read it here, within the limit, and replay it.
                body, too_large = await _read_limited(receive, self.max_body)
                if too_large:
                    await self._too_large(send_wrapper, scope, length)
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, send_wrapper)
        finally:
            label = label or getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.latency.labels(scope["method"], label, str(status)).observe(
                time.perf_counter() - started
            )

    def _batch_handler(self, receive: Receive) -> DirectHandler:
        """``POST /api/v1/batch`` (`memtrace_server.batch`): each sub-request served as if sent alone."""

        async def handle(scope: Scope, body: bytes) -> tuple[int, bytes, dict[str, str]]:
            async def serve(request: batch.SubRequest, position: int) -> batch.SubReply:
                return await self._sub_request(scope, receive, request, position)

            return await batch.run_batch(body, serve, max_reply_bytes=self.max_batch_reply)

        return handle

    async def _sub_request(
        self, parent: Scope, receive: Receive, request: batch.SubRequest, position: int
    ) -> batch.SubReply:
        started = time.perf_counter()
        raw_path = request.path.encode("latin-1")
        scope = dict(parent)
        scope["method"] = request.method
        scope["raw_path"] = raw_path
        scope["path"] = _path_keeping_encoded_slashes(raw_path)
        scope["query_string"] = request.query.encode("latin-1")
        headers = [(k, v) for k, v in parent["headers"] if k not in _BODY_HEADERS]
        headers.append((b"content-length", str(len(request.body)).encode()))
        if request.body:
            headers.append((b"content-type", b"application/json"))
        scope["headers"] = headers
        reply: batch.SubReply = (500, b"", {})
        label: str | None = None
        try:
            # The batch itself was authenticated and charged as its first request; each further one is
            # authenticated (and charged to the rate limit) as if it had come alone.
            if position > 0 and self.authenticate is not None and PRINCIPAL_SCOPE_KEY in parent:
                scope[PRINCIPAL_SCOPE_KEY] = await self.authenticate(scope)
            handler = self.direct.get((request.method, scope["path"])) if self.direct else None
            direct = await handler(scope, request.body) if handler is not None else None
            if direct is not None:
                label, reply = scope["path"], direct
            else:
                reply = await _served_by(self.app, scope, _replay(request.body, receive))
        except Exception as exc:
            described = describe(exc)
            self.metrics.errors.labels(described.kind).inc()
            if described.kind == "internal":
                log.error("%s %s in a batch failed", request.method, request.path, exc_info=exc)
            reply = (described.status, described.body, described.headers)
        finally:
            label = label or getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.latency.labels(request.method, label, str(reply[0])).observe(
                time.perf_counter() - started
            )
        return reply

    async def _too_large(self, send: Send, scope: Scope, length: int | None) -> None:
        self.metrics.errors.labels("body_too_large").inc()
        body = json.dumps(
            {"error": f"request body too large: the limit is {self.max_body} bytes", "field": "body"}
        ).encode()
        await _send(send, 413, body, _close_if_body_unread(scope, length))


_BODY_HEADERS = frozenset({b"content-length", b"content-type", b"transfer-encoding"})


async def _served_by(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, bytes, dict[str, str]]:
    """Run `app` on one request and collect its answer (a sub-request of a batch)."""
    status = 500
    headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            headers.update((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ()))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks), headers


def _close_if_body_unread(scope: Scope, length: int | None) -> dict[str, str]:
    """``Connection: close`` for an answer sent before a large or chunked body was read (see DRAIN_LIMIT)."""
    if length is not None:
        return {"Connection": "close"} if length > DRAIN_LIMIT else {}
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return {"Connection": "close"}
    return {}


async def _send(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    headers = {k.lower(): v for k, v in headers.items()}
    content_type = headers.pop("content-type", "application/json")
    raw = [(b"content-type", content_type.encode("latin-1")), (b"content-length", str(len(body)).encode())]
    raw.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_limited(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, original: Receive) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()  # later messages (a disconnect) come from the client as usual

    return receive
