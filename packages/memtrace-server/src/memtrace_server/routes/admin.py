"""Organisations and API keys over REST (the original had these on the CLI only).

An admin key of ``org_default`` (the bootstrap organisation) administers the server: every organisation and
every key. An admin key of any other organisation manages only its own organisation's keys, so handing a
tenant an admin key never lets it reach another tenant.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from memtrace.audit import MAX_AUDIT_LIMIT, AuditAction, AuditPage
from memtrace.errors import ConflictError, NotFoundError, PermissionDeniedError
from memtrace.forget import ForgetReceipt
from memtrace.timeparse import to_checked_us

from .. import wire
from ..keys import Principal
from ..middleware import decode_segment
from ..wire import ApiKey, ApiKeyList, CreatedApiKey, CreateKeyRequest, CreateOrgRequest, Org, OrgList
from .common import ERRORS, AdminCaller, TimeQuery, state_of

router = APIRouter(prefix="/api/v1", tags=["admin"])


def _server_admin(principal: Principal) -> None:
    if not principal.is_server_admin:
        raise PermissionDeniedError("only an admin key of org_default can manage organizations")


def _org_scope(principal: Principal, org_id: str | None) -> str | None:
    """The org a key-management call may touch: any (None = all) for the server admin, else the caller's."""
    if principal.is_server_admin:
        return org_id
    if org_id is not None and org_id != principal.org_id:
        raise PermissionDeniedError("an admin key can manage only its own organization's keys")
    return principal.org_id


@router.post("/orgs", status_code=201, response_model=Org, responses=ERRORS, summary="Create an organization")
async def create_org(request: Request, principal: AdminCaller, req: CreateOrgRequest) -> Response:
    _server_admin(principal)
    state = state_of(request)
    org = await state.run(state.admin.create_org, req.name, req.id, actor=principal.actor())
    return wire.json_response(wire.org_view(org), Org, 201)


@router.get("/orgs", response_model=OrgList, responses=ERRORS, summary="List organizations")
async def list_orgs(request: Request, principal: AdminCaller) -> Response:
    state = state_of(request)
    if principal.is_server_admin:
        rows = await state.run(state.admin.list_orgs)
    else:
        rows = [await state.run(state.admin.get_org, principal.org_id)]
    orgs = [wire.org_view(r) for r in rows]
    return wire.json_response(OrgList(orgs=orgs, count=len(orgs)), OrgList)


@router.delete(
    "/orgs/{org_id}",
    response_model=ForgetReceipt,
    responses=ERRORS,
    summary="Delete an organization with its memories, agents, sessions and keys; answers the receipt",
)
async def delete_org(request: Request, principal: AdminCaller, org_id: str) -> Response:
    _server_admin(principal)
    org_id = decode_segment(org_id)
    if org_id == principal.org_id:
        raise ConflictError("refusing to delete the organization of the key making the request")
    state = state_of(request)
    receipt = await state.run(state.admin.delete_org, org_id, actor=principal.actor())
    if state.authenticator is not None:
        state.authenticator.evict(org_id=org_id)
    await state.run(state.arc.discard_spool, org_id)
    return wire.json_response(receipt, ForgetReceipt)


@router.post(
    "/keys",
    status_code=201,
    response_model=CreatedApiKey,
    responses=ERRORS,
    summary="Create an API key (the key is in this response only)",
)
async def create_key(request: Request, principal: AdminCaller, req: CreateKeyRequest) -> Response:
    org_id = _org_scope(principal, req.org_id) or principal.org_id
    state = state_of(request)
    expires_us = to_checked_us(req.expires_at, "expires_at") if req.expires_at is not None else None
    row, key = await state.run(
        state.keys.create, org_id, req.name, req.permissions, expires_us=expires_us, actor=principal.actor()
    )
    if state.authenticator is not None:
        state.authenticator.forget_failures()
    return wire.json_response(wire.key_view(row, key), CreatedApiKey, 201)


@router.get("/keys", response_model=ApiKeyList, responses=ERRORS, summary="List API keys (never the keys)")
async def list_keys(
    request: Request,
    principal: AdminCaller,
    org_id: Annotated[str | None, Query(description="Only this organization's keys.")] = None,
) -> Response:
    state = state_of(request)
    rows = await state.run(state.keys.list_keys, _org_scope(principal, org_id or None))
    keys = [wire.key_view(r) for r in rows]
    return wire.json_response(ApiKeyList(keys=keys, count=len(keys)), ApiKeyList)


@router.delete(
    "/keys/{key_id}", status_code=204, responses=ERRORS, summary="Revoke an API key; it stops working at once"
)
async def revoke_key(request: Request, principal: AdminCaller, key_id: int) -> Response:
    state = state_of(request)
    row = await state.run(state.keys.get_key, key_id)
    if row is None or not row.enabled or _org_scope(principal, None) not in (None, row.org_id):
        raise NotFoundError("API key not found")
    await state.run(state.keys.revoke, key_id, actor=principal.actor())
    if state.authenticator is not None:
        state.authenticator.evict(key_id=key_id)
    return Response(status_code=204)


@router.get(
    "/audit",
    response_model=AuditPage,
    responses=ERRORS,
    summary="Read the audit trail (admin keys; newest first)",
    description="Destructive and privileged actions: deletes, forgets, organisation and key administration, "
    "Arc instance changes, retention runs and imports. The server admin reads every organisation's entries; "
    "another organisation's admin key reads its own organisation's. Page with `before` = the previous page's "
    "`next_before`.",
)
async def read_audit(
    request: Request,
    principal: AdminCaller,
    org_id: Annotated[str | None, Query(description="Only this organization's entries.")] = None,
    action: Annotated[
        str | None, Query(description="Only this action.", json_schema_extra={"enum": sorted(AuditAction)})
    ] = None,
    since: TimeQuery = None,
    until: TimeQuery = None,
    before: Annotated[
        int | None,
        Query(
            description="Only entries older than this entry id (the next page).",
            json_schema_extra={"minimum": 1},
        ),
    ] = None,
    limit: Annotated[
        int | None,
        Query(
            description=f"1..{MAX_AUDIT_LIMIT}, default 100.",
            json_schema_extra={"minimum": 1, "maximum": MAX_AUDIT_LIMIT},
        ),
    ] = None,
) -> Response:
    state = state_of(request)
    page = await state.run(
        state.engine.audit.list,
        org_id=_org_scope(principal, org_id or None),
        action=action,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
    return wire.json_response(page, AuditPage)


__all__ = ["ApiKey", "router"]
