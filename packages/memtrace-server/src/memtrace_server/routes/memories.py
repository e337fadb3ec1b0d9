"""Memories: create (single or batch), list, search, get and delete (spec §1.4-1.7, plus extensions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from memtrace.errors import ConflictError
from memtrace.models import AddMemoryRequest, Memory, MemoryList, SearchQuery, SearchResult

from .. import wire
from ..keys import Principal
from ..middleware import decode_segment
from ..state import ServerState
from ..wire import BatchCreateRequest, BatchCreateResponse, DeletedResponse, DeleteMemoriesRequest
from .common import (
    ERRORS,
    IdQuery,
    MemoryIdPath,
    MemoryTypeQuery,
    Options,
    Reader,
    TimeQuery,
    TypeQuery,
    Writer,
    state_of,
)

router = APIRouter(prefix="/api/v1", tags=["memories"])

CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/AddMemoryRequest"},
                        {"$ref": "#/components/schemas/BatchCreateRequest"},
                    ]
                }
            }
        },
    }
}
"""Documented by hand: the handler reads the body itself to tell a single memory from a batch (spec §1.4)."""


@router.post(
    "/memories",
    status_code=201,
    response_model=Memory,
    responses={**ERRORS, 201: {"description": "The memory, or for a batch `{memories, count, skipped}`."}},
    openapi_extra=CREATE_BODY,
    summary="Store one memory, or a batch of memories",
)
async def create_memories(request: Request, principal: Writer) -> Response:
    content = await store_memories(state_of(request), principal, await request.body())
    return Response(content, status_code=201, media_type=wire.JSON)


async def store_memories(state: ServerState, principal: Principal, body: bytes) -> bytes:
    """The work of ``POST /api/v1/memories``: a batch when the body has a ``memories`` list, else one memory
    (spec §1.4). Returns the 201 body. Shared with `memtrace_server.fastpath`, which serves this route."""
    batch = wire.parse(body, BatchCreateRequest)
    if batch.memories is None:
        req = wire.parse(body, AddMemoryRequest)
        try:
            # Concurrent single writes share one transaction (group commit); see memtrace_server.coalesce.
            if state.coalescer is not None:
                memory = await state.coalescer.add(principal.org_id, req)
            else:
                memory = await state.run(state.engine.add_memory, principal.org_id, req)
        except ConflictError:
            state.metrics.duplicates.inc()
            raise
        state.metrics.writes.labels("single").inc()
        return wire.adapter(Memory).dump_json(memory, exclude_none=True)
    result = await state.run(state.engine.add_memories, principal.org_id, batch.memories)
    state.metrics.writes.labels("batch").inc(len(result))
    if result.skipped:
        state.metrics.duplicates.inc(result.skipped)
    response = BatchCreateResponse.model_construct(
        memories=list(result),
        count=len(result),
        skipped=result.skipped,
        skipped_indexes=result.skipped_indexes,
    )
    return wire.adapter(BatchCreateResponse).dump_json(response, exclude_none=True)


@router.get("/memories", response_model=MemoryList, responses=ERRORS, summary="List memories")
async def list_memories(request: Request, principal: Reader, opts: Options) -> Response:
    state = state_of(request)
    result = await state.run(state.engine.list_memories, principal.org_id, opts)
    state.metrics.queries.labels("list").inc()
    return wire.json_response(result, MemoryList)


DELETE_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeleteMemoriesRequest"}}},
    }
}


@router.delete(
    "/memories",
    response_model=DeletedResponse,
    responses=ERRORS,
    openapi_extra=DELETE_BODY,
    summary="Delete memories by filter (extension)",
    description="Deletes, atomically, every memory matching all the given filters. At least one of agent_id, "
    "session_id, since, until or memory_ids is required; memory_type, event_type and tags only narrow. The "
    "filters come from the query string, or from a JSON body with the same names (for long id lists).",
)
async def delete_memories(
    request: Request,
    principal: Writer,
    agent_id: IdQuery = None,
    session_id: IdQuery = None,
    since: TimeQuery = None,
    until: TimeQuery = None,
    memory_type: MemoryTypeQuery = None,
    event_type: TypeQuery = None,
    tags: Annotated[str | None, Query(description="Comma-separated; every tag must match whole.")] = None,
    memory_ids: Annotated[
        str | None, Query(description="Comma-separated memory ids (at most 1,000).")
    ] = None,
) -> Response:
    state = state_of(request)
    body = await request.body()
    if body.strip():
        filters = wire.parse(body, DeleteMemoriesRequest).model_dump(exclude_none=True)
    else:
        ids = [i.strip() for i in memory_ids.split(",") if i.strip()] if memory_ids is not None else None
        query = {
            "agent_id": agent_id,
            "session_id": session_id,
            "since": since,
            "until": until,
            "memory_type": memory_type,
            "event_type": event_type,
            "tags": tags,
            "memory_ids": ids,
        }
        filters = {k: v for k, v in query.items() if v is not None}
    deleted = await state.run(
        state.engine.delete_memories, principal.org_id, **filters, actor=principal.actor()
    )
    return wire.json_response(DeletedResponse(deleted=deleted), DeletedResponse)


@router.get(
    "/memories/{memory_id}", response_model=Memory, responses=ERRORS, summary="Get a memory by id (extension)"
)
async def get_memory(request: Request, principal: Reader, memory_id: MemoryIdPath) -> Response:
    state = state_of(request)
    memory = await state.run(state.engine.get_memory, principal.org_id, decode_segment(memory_id))
    state.metrics.queries.labels("get").inc()
    return wire.json_response(memory, Memory)


@router.delete(
    "/memories/{memory_id}", status_code=204, responses=ERRORS, summary="Delete a memory by id (extension)"
)
async def delete_memory(request: Request, principal: Writer, memory_id: MemoryIdPath) -> Response:
    state = state_of(request)
    await state.run(
        state.engine.delete_memory, principal.org_id, decode_segment(memory_id), actor=principal.actor()
    )
    return Response(status_code=204)


@router.post("/search", response_model=SearchResult, responses=ERRORS, summary="Search memories")
async def search_memories(request: Request, principal: Reader, query: SearchQuery | None = None) -> Response:
    state = state_of(request)
    result = await state.run(state.engine.search_memories, principal.org_id, query or SearchQuery())
    state.metrics.queries.labels("search").inc()
    return wire.json_response(result, SearchResult)
