"""Routes served straight from the ASGI middleware, skipping FastAPI's per-request machinery.

Only ``POST /api/v1/memories``: every agent step writes, so it is the hottest route, and FastAPI's routing,
dependency solving and exception layers cost about as much CPU as the rest of a single write together. The
handler does exactly what the FastAPI route does (same auth, same `store_memories`, same error replies); the
FastAPI route stays for the OpenAPI document and serves the request whenever the fast path is off (with CORS).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.types import Scope

from .auth import authorize
from .errors import describe
from .routes.memories import store_memories
from .state import ServerState

log = logging.getLogger("memtrace_server")

Reply = tuple[int, bytes, dict[str, str]]
DirectHandler = Callable[[Scope, bytes], Awaitable[Reply]]


def _auth_headers(scope: Scope) -> tuple[str | None, str | None]:
    api_key = authorization = None
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            api_key = value.decode("latin-1")
        elif name == b"authorization":
            authorization = value.decode("latin-1")
    return api_key, authorization


def create_memories_handler(state: ServerState) -> DirectHandler:
    async def handle(scope: Scope, body: bytes) -> Reply:
        try:
            principal = await authorize(state, *_auth_headers(scope), "write")
            return 201, await store_memories(state, principal, body), {}
        except Exception as exc:
            reply = describe(exc)
            state.metrics.errors.labels(reply.kind).inc()
            if reply.kind == "internal":
                log.error("POST /api/v1/memories failed", exc_info=exc)
            return reply.status, reply.body, reply.headers

    return handle


def direct_routes(state: ServerState) -> dict[tuple[str, str], DirectHandler]:
    return {("POST", "/api/v1/memories"): create_memories_handler(state)}
