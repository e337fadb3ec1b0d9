"""Retention policies and sweeps over REST, for admin keys (the same operations as ``memtrace retention``).

An admin key of ``org_default`` manages every organisation's policy and may sweep all of them; an admin key of
any other organisation manages and sweeps only its own. Keys without ``admin`` get 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from memtrace.errors import PermissionDeniedError
from memtrace.retention import RetentionRule

from .. import wire
from ..keys import Principal
from ..retention import record_sweep
from ..wire import (
    ClearedRetention,
    RetentionPolicyView,
    RetentionRuleView,
    SetRetentionRequest,
    SweepReportView,
    SweepRequest,
)
from .common import ERRORS, AdminCaller, state_of

router = APIRouter(prefix="/api/v1", tags=["retention"])

OrgQuery = Annotated[str | None, Query(description="The organisation (default: the caller's).")]


def _org(principal: Principal, org_id: str | None) -> str:
    """The org a call may touch: any for the server admin, else only the caller's own."""
    if not org_id or org_id == principal.org_id:
        return principal.org_id
    if not principal.is_server_admin:
        raise PermissionDeniedError("an admin key can manage only its own organization's retention")
    return org_id


def _view(rule: RetentionRule) -> RetentionRuleView:
    return RetentionRuleView(**rule.as_dict())


@router.get(
    "/retention", response_model=RetentionPolicyView, responses=ERRORS, summary="Show a retention policy"
)
async def get_retention(request: Request, principal: AdminCaller, org_id: OrgQuery = None) -> Response:
    org = _org(principal, org_id)
    state = state_of(request)
    rules = [_view(r) for r in await state.run(state.engine.get_retention, org)]
    return wire.json_response(
        RetentionPolicyView(org_id=org, rules=rules, count=len(rules)), RetentionPolicyView
    )


@router.put(
    "/retention",
    response_model=RetentionRuleView,
    responses=ERRORS,
    summary="Set how long an organisation keeps its memories (of one type, or of every type)",
)
async def set_retention(request: Request, principal: AdminCaller, req: SetRetentionRequest) -> Response:
    org = _org(principal, req.org_id)
    state = state_of(request)
    rule = await state.run(state.engine.set_retention, org, req.memory_type, req.keep)
    return wire.json_response(_view(rule), RetentionRuleView)


@router.delete(
    "/retention",
    response_model=ClearedRetention,
    responses=ERRORS,
    summary="Remove a retention rule (of one type, or all of them): those memories are kept again",
)
async def clear_retention(
    request: Request,
    principal: AdminCaller,
    org_id: OrgQuery = None,
    memory_type: Annotated[
        str | None, Query(description="Only this type's rule (* for the default rule); absent: every rule.")
    ] = None,
) -> Response:
    org = _org(principal, org_id)
    state = state_of(request)
    removed = await state.run(state.engine.clear_retention, org, memory_type)
    return wire.json_response(ClearedRetention(org_id=org, removed=removed), ClearedRetention)


@router.post(
    "/retention/run",
    response_model=SweepReportView,
    responses=ERRORS,
    summary="Sweep now: delete (or with dry_run count) expired and out-of-policy memories",
)
async def run_sweep(request: Request, principal: AdminCaller, req: SweepRequest | None = None) -> Response:
    req = req or SweepRequest()
    # The server admin sweeps every org unless it names one; another org's admin only its own.
    org = _org(principal, req.org_id) if req.org_id or not principal.is_server_admin else None
    state = state_of(request)
    report = await state.run(state.engine.sweep, org_id=org, dry_run=req.dry_run, actor=principal.actor())
    record_sweep(report, trigger="api", actor=f"API key {principal.key_id} of {principal.org_id}")
    return wire.json_response(SweepReportView(**report.as_dict()), SweepReportView)


__all__ = ["router"]
