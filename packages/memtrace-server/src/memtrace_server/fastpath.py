"""Routes served straight from the ASGI middleware, skipping FastAPI's per-request machinery.

- ``POST /api/v1/memories``: every agent step writes, so it is the hottest route, and FastAPI's routing,
  dependency solving and exception layers cost about as much CPU as the rest of a single write together.
- ``GET /api/v1/memories``: what adapters read most (a session's history, a LangGraph item's versions, a
  store search's page). Its eleven query parameters made FastAPI's dependency solving ~60% of the route's CPU
  (profiled through ``POST /api/v1/batch``). The handler takes only well-formed queries: a value FastAPI
  would have to convert with an error (``limit=abc``) makes it decline, and the app answers as before, so
  there is one set of error replies.

Each handler does exactly what its FastAPI route does (same permission check, same engine call, same
replies); the caller was authenticated by `ServerMiddleware` before the body was read, as for every route. The
FastAPI routes stay for the OpenAPI document and serve the request whenever the fast path is off (with CORS)
or declines (a handler returning None).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Scope

from memtrace.models import ListOptions, MemoryList

from . import wire
from .auth import PRINCIPAL_SCOPE_KEY, require_permission
from .errors import describe
from .routes.memories import store_memories
from .state import ServerState

log = logging.getLogger("memtrace_server")

Reply = tuple[int, bytes, dict[str, str]]
DirectHandler = Callable[[Scope, bytes], Awaitable[Reply | None]]
"""Answers a request, or returns None to leave it to the app."""

_LIST_TEXT = (
    "agent_id",
    "session_id",
    "memory_type",
    "event_type",
    "tags",
    "since",
    "until",
    "order",
    "as_of",
)
"""`GET /api/v1/memories`'s string parameters (routes.common.list_options), passed as given."""
_LIST_INT = ("limit", "offset")
_BOOL = {"true": True, "false": False, "1": True, "0": False}


def list_options_from_query(query_string: bytes) -> ListOptions | None:
    """The route's `ListOptions` for a well-formed query string; None when FastAPI's conversion is needed."""
    try:
        given = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, strict_parsing=False))
    except ValueError:
        return None
    values: dict[str, Any] = {name: given.get(name) for name in _LIST_TEXT}
    for name in _LIST_INT:
        text = given.get(name)
        if text is not None:
            if not text.isascii() or not text.isdigit() or len(text) > 18:
                return None
            values[name] = int(text)
        else:
            values[name] = None
    flag = given.get("include_superseded")
    if flag is not None and flag.lower() not in _BOOL:
        return None
    values["include_superseded"] = None if flag is None else _BOOL[flag.lower()]
    return ListOptions.model_construct(**values)


def create_memories_handler(state: ServerState) -> DirectHandler:
    async def handle(scope: Scope, body: bytes) -> Reply | None:
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


def list_memories_handler(state: ServerState) -> DirectHandler:
    async def handle(scope: Scope, body: bytes) -> Reply | None:
        options = list_options_from_query(scope.get("query_string", b""))
        if options is None:
            return None
        try:
            principal = require_permission(scope[PRINCIPAL_SCOPE_KEY], "read")
            result = await state.run(state.engine.list_memories, principal.org_id, options)
            state.metrics.queries.labels("list").inc()
            return 200, wire.adapter(MemoryList).dump_json(result, exclude_none=True), {}
        except Exception as exc:
            reply = describe(exc)
            state.metrics.errors.labels(reply.kind).inc()
            if reply.kind == "internal":
                log.error("GET /api/v1/memories failed", exc_info=exc)
            return reply.status, reply.body, reply.headers

    return handle


def direct_routes(state: ServerState) -> dict[tuple[str, str], DirectHandler]:
    return {
        ("POST", "/api/v1/memories"): create_memories_handler(state),
        ("GET", "/api/v1/memories"): list_memories_handler(state),
    }
