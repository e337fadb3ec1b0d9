"""What the route modules share: the server state, the caller (auth dependencies), error responses, list
query parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from memtrace.errors import PermissionDeniedError
from memtrace.models import ListOptions

from ..auth import ANONYMOUS_ADMIN, key_from_headers
from ..keys import Principal
from ..state import ServerState
from ..wire import ErrorResponse

# Declared for the OpenAPI document (so clients and schemathesis see both schemes); parsed by hand below.
_api_key_scheme = APIKeyHeader(name="x-api-key", scheme_name="ApiKeyHeader", auto_error=False)
_bearer_scheme = HTTPBearer(scheme_name="BearerToken", auto_error=False)


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's `Principal`, which must hold `permission` (else 403).
    The org's rate limit is charged here too."""

    async def dependency(
        request: Request,
        _key: Annotated[str | None, Security(_api_key_scheme)] = None,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)] = None,
    ) -> Principal:
        state = request.app.state.memtrace
        if state.authenticator is None:
            principal = ANONYMOUS_ADMIN
        else:
            headers = request.headers
            key = key_from_headers(headers.get("x-api-key"), headers.get("authorization"))
            principal = await state.authenticator.authenticate(key)
        if state.rate_limiter is not None:
            state.rate_limiter.check(principal.org_id)
        if not principal.allows(permission):
            raise PermissionDeniedError(f"this API key lacks the '{permission}' permission")
        return principal

    dependency.__name__ = f"require_{permission}"
    return dependency


require_read = require("read")
require_write = require("write")
require_admin = require("admin")


Reader = Annotated[Principal, Depends(require_read)]
Writer = Annotated[Principal, Depends(require_write)]
AdminCaller = Annotated[Principal, Depends(require_admin)]
Str = Annotated[str | None, Query()]

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 429, 503)
}
"""Every route can answer these with ``{"error": ...}``."""


def state_of(request: Request) -> ServerState:
    return request.app.state.memtrace  # type: ignore[no-any-return]


def _filters(
    memory_type: Str = None,
    event_type: Str = None,
    tags: Annotated[str | None, Query(description="Comma-separated; every tag must match whole.")] = None,
    since: Annotated[str | None, Query(description="Relative (30m, 2h, 7d) or ISO-8601.")] = None,
    until: Str = None,
    limit: Annotated[int | None, Query(description="1..1000, default 100.")] = None,
    offset: Annotated[int | None, Query()] = None,
    order: Annotated[str | None, Query(description="asc or desc (default).")] = None,
) -> dict[str, Any]:
    return {
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
def list_options(filters: Filters, agent_id: Str = None, session_id: Str = None) -> ListOptions:
    return ListOptions.model_construct(agent_id=agent_id, session_id=session_id, **filters)


def agent_list_options(filters: Filters, session_id: Str = None) -> ListOptions:
    return ListOptions.model_construct(agent_id=None, session_id=session_id, **filters)


def session_list_options(filters: Filters, agent_id: Str = None) -> ListOptions:
    return ListOptions.model_construct(agent_id=agent_id, session_id=None, **filters)


Options = Annotated[ListOptions, Depends(list_options)]
AgentOptions = Annotated[ListOptions, Depends(agent_list_options)]
SessionOptions = Annotated[ListOptions, Depends(session_list_options)]
