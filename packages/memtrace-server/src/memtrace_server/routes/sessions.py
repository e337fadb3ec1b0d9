"""Sessions (spec §1.9): create for any agent id, list, get, update/close, their memories, LLM context."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from memtrace.models import (
    ContextOptions,
    CreateSessionRequest,
    MemoryList,
    Session,
    SessionContext,
    SessionList,
)

from .. import wire
from ..middleware import decode_segment
from ..wire import UpdateSessionRequest
from .common import ERRORS, IdQuery, Reader, SessionIdPath, SessionOptions, Writer, state_of

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])


@router.post("", status_code=201, response_model=Session, responses=ERRORS, summary="Open a session")
async def create_session(request: Request, principal: Writer, req: CreateSessionRequest) -> Response:
    state = state_of(request)
    session = await state.run(state.engine.create_session, principal.org_id, req)
    return wire.json_response(session, Session, 201)


@router.get("", response_model=SessionList, responses=ERRORS, summary="List sessions")
async def list_sessions(request: Request, principal: Reader, agent_id: IdQuery = None) -> Response:
    state = state_of(request)
    result = await state.run(state.engine.list_sessions, principal.org_id, agent_id or None)
    return wire.json_response(result, SessionList)


@router.get("/{session_id}", response_model=Session, responses=ERRORS, summary="Get a session")
async def get_session(request: Request, principal: Reader, session_id: SessionIdPath) -> Response:
    state = state_of(request)
    session = await state.run(state.engine.get_session, principal.org_id, decode_segment(session_id))
    return wire.json_response(session, Session)


@router.put(
    "/{session_id}",
    response_model=Session,
    responses=ERRORS,
    summary="Set a session's status and/or replace its metadata; status 'closed' closes it",
)
async def update_session(
    request: Request, principal: Writer, session_id: SessionIdPath, req: UpdateSessionRequest
) -> Response:
    state = state_of(request)
    session = await state.run(
        state.engine.update_session,
        principal.org_id,
        decode_segment(session_id),
        status=req.status,
        metadata=req.metadata,
    )
    return wire.json_response(session, Session)


@router.get(
    "/{session_id}/memories", response_model=MemoryList, responses=ERRORS, summary="A session's memories"
)
async def get_session_memories(
    request: Request, principal: Reader, session_id: SessionIdPath, opts: SessionOptions
) -> Response:
    state = state_of(request)
    result = await state.run(
        state.engine.get_session_memories, principal.org_id, decode_segment(session_id), opts
    )
    state.metrics.queries.labels("session_memories").inc()
    return wire.json_response(result, MemoryList)


@router.post(
    "/{session_id}/context",
    response_model=SessionContext,
    responses=ERRORS,
    summary="The session as LLM-ready markdown, within max_tokens",
)
async def get_session_context(
    request: Request, principal: Reader, session_id: SessionIdPath, opts: ContextOptions | None = None
) -> Response:
    state = state_of(request)
    context = await state.run(
        state.engine.get_session_context, principal.org_id, decode_segment(session_id), opts
    )
    state.metrics.queries.labels("context").inc()
    return wire.json_response(context, SessionContext)
