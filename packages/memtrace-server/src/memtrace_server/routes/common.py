"""What the route modules share: the server state, the caller, error responses, list query parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from memtrace.models import ListOptions

from ..auth import require_admin, require_read, require_write
from ..keys import Principal
from ..state import ServerState
from ..wire import ErrorResponse

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
