"""Facts that change (extension): a fact's current memory, its history, and the current facts.

Keys contain ``/`` (``user:ada/city``). Clients send a key as one path segment with ``/`` encoded as ``%2F``, as
memtrace's client does; ``GET /api/v1/facts/user:ada/city`` with a raw ``/`` works too, but the history route
needs the encoded form (a raw key ending in ``/history`` would be ambiguous).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from memtrace.facts import KEY_FORMAT
from memtrace.models import Memory, MemoryList

from .. import wire
from ..middleware import decode_segment
from .common import ERRORS, IdQuery, Reader, TimeQuery, state_of

router = APIRouter(prefix="/api/v1", tags=["facts"])

KeyPath = Annotated[str, Path(description=f"The fact's key: {KEY_FORMAT}; encode '/' as %2F.")]
LimitQuery = Annotated[
    int | None, Query(description="1..1000, default 100.", json_schema_extra={"minimum": 1, "maximum": 1000})
]
OffsetQuery = Annotated[int | None, Query(json_schema_extra={"minimum": 0})]


@router.get(
    "/facts",
    response_model=MemoryList,
    responses=ERRORS,
    summary="List current facts (extension)",
    description="The current keyed memories, newest first; `prefix` narrows to keys starting with it, "
    "`as_of` shows the facts current at that time.",
)
async def list_facts(
    request: Request,
    principal: Reader,
    prefix: Annotated[str | None, Query(description="Only keys starting with this.")] = None,
    agent_id: IdQuery = None,
    as_of: TimeQuery = None,
    limit: LimitQuery = None,
    offset: OffsetQuery = None,
) -> Response:
    state = state_of(request)
    result = await state.run(
        state.engine.list_facts,
        principal.org_id,
        prefix=prefix,
        agent_id=agent_id,
        as_of=as_of,
        limit=limit,
        offset=offset,
    )
    state.metrics.queries.labels("list").inc()
    return wire.json_response(result, MemoryList)


@router.get(
    "/facts/{key}/history",
    response_model=MemoryList,
    responses=ERRORS,
    summary="A fact's history (extension)",
    description="Every version of the fact in the order they were valid, the current one last (empty for an "
    "unknown key).",
)
async def fact_history(
    request: Request, principal: Reader, key: KeyPath, limit: LimitQuery = None, offset: OffsetQuery = None
) -> Response:
    state = state_of(request)
    result = await state.run(
        state.engine.fact_history, principal.org_id, decode_segment(key), limit=limit, offset=offset
    )
    state.metrics.queries.labels("list").inc()
    return wire.json_response(result, MemoryList)


@router.get(
    "/facts/{key:path}",
    response_model=Memory,
    responses=ERRORS,
    summary="A fact's current memory (extension)",
    description="404 when the key has no current memory.",
)
async def get_fact(request: Request, principal: Reader, key: KeyPath) -> Response:
    state = state_of(request)
    memory = await state.run(state.engine.get_fact, principal.org_id, decode_segment(key))
    state.metrics.queries.labels("get").inc()
    return wire.json_response(memory, Memory)
