"""Export and import of the caller's organisation as JSON Lines (`memtrace.transfer`), for admin keys.

``GET /api/v1/export`` streams: the body is written a page of memories at a time, so an organisation of any size
is exported in flat memory. The status line goes out before the last page is read, so a failure midway cannot
become an error status: the body then ends without its trailer line, which every reader (``memtrace import``,
the client's `export_memories`) refuses as truncated.

``POST /api/v1/import`` takes an export file as the body (``application/x-ndjson``), up to the server's body
limit (``limits.max_body_bytes``); a larger file goes in parts, each a file of its own, with ``first_line`` set
so errors name the whole file's lines (the client does this). A bad line answers 400 with ``line``, ``problem``
and ``imported`` (what was committed before it) besides ``error``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from memtrace.transfer import MEDIA_TYPE, ExportOptions, ImportFailed, ImportReport, iter_lines
from memtrace.validation import split_tags

from .. import wire
from ..errors import error_response
from .common import ERRORS, AdminCaller, IdQuery, TimeQuery, state_of

router = APIRouter(prefix="/api/v1", tags=["export and import"])
log = logging.getLogger("memtrace_server")

_LIST = Query(description="Comma-separated.")
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            MEDIA_TYPE: {"schema": {"type": "string", "description": "An export file (JSON Lines)."}}
        },
    }
}


def _split(value: str | None) -> list[str] | None:
    return [p.strip() for p in value.split(",") if p.strip()] if value else None


@router.get(
    "/export",
    responses={**ERRORS, 200: {"content": {MEDIA_TYPE: {}}, "description": "The export file (JSON Lines)."}},
    summary="Export the organization, or part of it, as JSON Lines (streamed)",
)
async def export(
    request: Request,
    principal: AdminCaller,
    agent_id: IdQuery = None,
    session_id: IdQuery = None,
    memory_types: Annotated[str | None, _LIST] = None,
    tags: Annotated[str | None, _LIST] = None,
    since: TimeQuery = None,
    until: TimeQuery = None,
) -> Response:
    state = state_of(request)
    options = ExportOptions(
        agent_id=agent_id,
        session_id=session_id,
        memory_types=_split(memory_types),
        tags=list(split_tags(tags, "tags", state.config.limits.max_filter_tags)) or None,
        since=since,
        until=until,
    )
    # The filter is checked here, before the status line: a bad one is a 400, not a cut-off body.
    chunks = await state.run(state.engine.export_memories, principal.org_id, options)
    filename = f"memtrace-{principal.org_id}.jsonl"
    return StreamingResponse(
        _stream(request, chunks),
        media_type=MEDIA_TYPE,
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


async def _stream(request: Request, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    state = state_of(request)
    while True:
        try:
            chunk = await state.run(next, chunks, None)
        except Exception:
            log.exception(
                "export of %s stopped: the client gets a file without its trailer", request.url.path
            )
            return
        if chunk is None:
            return
        yield chunk


@router.post(
    "/import",
    response_model=ImportReport,
    responses=ERRORS,
    openapi_extra=IMPORT_BODY,
    summary="Import an export file into the organization (memories already there are skipped)",
)
async def import_(
    request: Request,
    principal: AdminCaller,
    first_line: Annotated[
        int | None,
        Query(
            description="When the body is a part of a larger file: that file's number of the line after the "
            "header, so errors name the larger file's lines.",
            ge=2,
            le=2**62,
        ),
    ] = None,
) -> Response:
    state = state_of(request)
    body = await request.body()  # within limits.max_body_bytes (the middleware refuses more with 413)
    try:
        report = await state.run(
            state.engine.import_memories,
            principal.org_id,
            iter_lines([body]),
            first_line=first_line,
            actor=principal.actor(),
        )
    except ImportFailed as exc:
        return error_response(
            400,
            exc.message,
            field=exc.field or "body",  # a line that is not a record at all: the body is what is wrong
            line=exc.line,
            problem=exc.problem,
            imported=exc.report.model_dump(),
        )
    return wire.json_response(report, ImportReport)


__all__ = ["router"]
