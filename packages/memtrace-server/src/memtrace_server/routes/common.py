"""What the route modules share: the server state, the caller (auth dependencies), error responses, list
query parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from memtrace.errors import AuthenticationError
from memtrace.ids import ID_PATTERN, MEMORY_ID_PATTERN
from memtrace.models import ListOptions
from memtrace.validation import MEMORY_TYPES, TYPE_PATTERN

from ..auth import PRINCIPAL_SCOPE_KEY, require_permission
from ..keys import Principal
from ..state import ServerState
from ..wire import ErrorResponse

SECURITY_SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "BearerToken": {"type": "http", "scheme": "bearer"},
}
"""Documented in the OpenAPI document by `app`; the dependency below reads the headers itself, since FastAPI's
security classes cost a sub-dependency each on every request."""


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's `Principal`, which must hold `permission` (else 403).

    `ServerMiddleware` has already authenticated the request (and charged the rate limit) before its body was
    read; this only checks the permission. Async on purpose: FastAPI runs plain functions in a thread."""

    async def dependency(request: Request) -> Principal:
        principal: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if principal is None:  # only if the app runs without its middleware
            raise AuthenticationError("missing API key")
        return require_permission(principal, permission)

    dependency.__name__ = f"require_{permission}"
    return dependency


require_read = require("read")
require_write = require("write")
require_admin = require("admin")


Reader = Annotated[Principal, Depends(require_read)]
Writer = Annotated[Principal, Depends(require_write)]
AdminCaller = Annotated[Principal, Depends(require_admin)]

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 429, 503)
}
"""Every route can answer these with ``{"error": ...}``."""


def state_of(request: Request) -> ServerState:
    return request.app.state.memtrace  # type: ignore[no-any-return]


# Documentation only (the engine enforces these rules and names the field): the patterns let clients and
# schemathesis generate valid values.
_ID = {"pattern": ID_PATTERN.pattern, "maxLength": 128}
IdQuery = Annotated[str | None, Query(description="An agent/session id.", json_schema_extra=_ID)]
TypeQuery = Annotated[str | None, Query(json_schema_extra={"pattern": TYPE_PATTERN.pattern})]
MemoryTypeQuery = Annotated[str | None, Query(json_schema_extra={"enum": sorted(MEMORY_TYPES)})]
TimeQuery = Annotated[str | None, Query(description="Relative (30m, 2h, 7d) or ISO-8601.")]
AgentIdPath = Annotated[str, Path(description="A free-form agent id.", json_schema_extra=_ID)]
SessionIdPath = Annotated[str, Path(json_schema_extra=_ID)]
MemoryIdPath = Annotated[str, Path(json_schema_extra={"pattern": MEMORY_ID_PATTERN.pattern})]


def _filters(
    memory_type: MemoryTypeQuery = None,
    event_type: TypeQuery = None,
    tags: Annotated[str | None, Query(description="Comma-separated; every tag must match whole.")] = None,
    since: TimeQuery = None,
    until: TimeQuery = None,
    limit: Annotated[
        int | None,
        Query(description="1..1000, default 100.", json_schema_extra={"minimum": 1, "maximum": 1000}),
    ] = None,
    offset: Annotated[int | None, Query(json_schema_extra={"minimum": 0, "maximum": 2**63 - 1})] = None,
    order: Annotated[
        str | None, Query(description="desc (default) or asc.", json_schema_extra={"enum": ["asc", "desc"]})
    ] = None,
    include_superseded: Annotated[
        bool | None, Query(description="(extension) Also list memories a later version replaced.")
    ] = None,
    as_of: Annotated[
        str | None, Query(description="(extension) What was current then: relative (2h) or ISO-8601.")
    ] = None,
) -> dict[str, Any]:
    return {
        "include_superseded": include_superseded,
        "as_of": as_of,
        "memory_type": memory_type,
        "event_type": event_type,
        "tags": tags,
        "since": since,
        "until": until,
        "limit": limit,
        "offset": offset,
        "order": order,
    }


Filters = Annotated[dict[str, Any], Depends(_filters)]


# The list filters as query parameters; the engine validates them (and names the field when one is bad).
# Routes with the agent or session in their path take the other filters only.
def list_options(filters: Filters, agent_id: IdQuery = None, session_id: IdQuery = None) -> ListOptions:
    return ListOptions.model_construct(agent_id=agent_id, session_id=session_id, **filters)


def agent_list_options(filters: Filters, session_id: IdQuery = None) -> ListOptions:
    return ListOptions.model_construct(agent_id=None, session_id=session_id, **filters)


def session_list_options(filters: Filters, agent_id: IdQuery = None) -> ListOptions:
    return ListOptions.model_construct(agent_id=agent_id, session_id=None, **filters)


Options = Annotated[ListOptions, Depends(list_options)]
AgentOptions = Annotated[ListOptions, Depends(agent_list_options)]
SessionOptions = Annotated[ListOptions, Depends(session_list_options)]
