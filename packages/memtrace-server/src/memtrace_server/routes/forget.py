"""Forgetting a subject (extension): ``POST /api/v1/forget`` removes everything about an agent, a session or a
filter, and answers the receipt (`memtrace.forget`).

The permission is the one deleting memories by filter needs (``write``): a key that may delete an agent's
memories one filter at a time may forget the agent. The action goes into the audit trail with the key's id.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from memtrace.forget import ForgetReceipt, ForgetRequest

from .. import wire
from .common import ERRORS, Writer, state_of

router = APIRouter(prefix="/api/v1", tags=["memories"])


@router.post(
    "/forget",
    response_model=ForgetReceipt,
    responses=ERRORS,
    summary="Forget a subject: an agent, a session, or a filter (extension)",
    description="Removes every memory matching all the given conditions (at least one of agent_id, session_id, "
    "tags, since, until, memory_ids), in bounded batches, so that no route returns them afterwards; with "
    "`agent_id` alone also the agent's sessions and registration, with `session_id` (and perhaps its "
    "`agent_id`) alone also the session. Answers the receipt: what was removed, by kind, and when. If the "
    "request is cut off midway, sending it again finishes the job.",
)
async def forget(request: Request, principal: Writer, req: ForgetRequest) -> Response:
    state = state_of(request)
    receipt = await state.run(state.engine.forget, principal.org_id, req, actor=principal.actor())
    return wire.json_response(receipt, ForgetReceipt)
