"""Routes served straight from the ASGI middleware, skipping FastAPI's per-request machinery.

Only ``POST /api/v1/memories``: every agent step writes, so it is the hottest route, and FastAPI's routing,
dependency solving and exception layers cost about as much CPU as the rest of a single write together. The
handler does exactly what the FastAPI route does (same permission check, same `store_memories`, same error
replies); the caller was authenticated by `ServerMiddleware` before the body was read, as for every route. The
FastAPI route stays for the OpenAPI document and serves the request whenever the fast path is off (with CORS).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.types import Scope

from .auth import PRINCIPAL_SCOPE_KEY, require_permission
from .errors import describe
from .routes.memories import store_memories
from .state import ServerState

log = logging.getLogger("memtrace_server")

Reply = tuple[int, bytes, dict[str, str]]
DirectHandler = Callable[[Scope, bytes], Awaitable[Reply]]


def create_memories_handler(state: ServerState) -> DirectHandler:
    async def handle(scope: Scope, body: bytes) -> Reply:
        try:
            principal = require_permission(scope[PRINCIPAL_SCOPE_KEY], "write")
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
