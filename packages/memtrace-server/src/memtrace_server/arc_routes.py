"""The admin REST routes for organisations' Arc instances (the CLI's ``memtrace org add-arc`` equivalent).

    PUT    /api/v1/orgs/{org_id}/arc   {"url", "token", "database", "measurement"?, "admin_token"?}
    GET    /api/v1/orgs/{org_id}/arc   (never the tokens; with the spool's figures when the store is open)
    DELETE /api/v1/orgs/{org_id}/arc
    GET    /api/v1/arc                 every organisation's Arc

All need an admin key of ``org_default`` (a server admin), as organisation management does.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from memtrace.errors import PermissionDeniedError

from .arc_admin import get_org_arc, list_org_arcs, remove_org_arc, set_org_arc, view
from .keys import Principal
from .middleware import decode_segment
from .routes.common import ERRORS, AdminCaller, state_of


class ArcInstanceRequest(BaseModel):
    """An organisation's Arc instance."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="Arc base URL, e.g. http://arc:8000")
    token: str = Field(description="Arc token with read,write permissions (stored encrypted)")
    database: str = Field(description="Arc database", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    measurement: str = Field(
        "events", description="Measurement name", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,127}$"
    )
    admin_token: str | None = Field(None, description="Arc admin token, needed to delete memories")


router = APIRouter(prefix="/api/v1", tags=["admin"])


def _server_admin(principal: Principal) -> None:
    if not principal.is_server_admin:
        raise PermissionDeniedError("only an admin key of org_default can manage Arc instances")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body).encode(), status_code=status, media_type="application/json")


@router.put("/orgs/{org_id}/arc", responses=ERRORS, summary="Keep an organization's memories in Arc")
async def put_org_arc(
    request: Request, principal: AdminCaller, org_id: str, req: ArcInstanceRequest
) -> Response:
    _server_admin(principal)
    state = state_of(request)
    instance = await state.run(
        set_org_arc,
        state,
        decode_segment(org_id),
        url=req.url,
        token=req.token,
        database=req.database,
        measurement=req.measurement,
        admin_token=req.admin_token,
        actor=principal.actor(),
    )
    return _json(view(instance))


@router.get("/orgs/{org_id}/arc", responses=ERRORS, summary="An organization's Arc instance (no tokens)")
async def read_org_arc(request: Request, principal: AdminCaller, org_id: str) -> Response:
    _server_admin(principal)
    state = state_of(request)
    org_id = decode_segment(org_id)
    instance = await state.run(get_org_arc, state, org_id)
    status = state.arc.status().get(org_id)
    return _json(view(instance, status))


@router.delete(
    "/orgs/{org_id}/arc", status_code=204, responses=ERRORS, summary="Stop using Arc for an organization"
)
async def delete_org_arc(request: Request, principal: AdminCaller, org_id: str) -> Response:
    _server_admin(principal)
    state = state_of(request)
    await state.run(remove_org_arc, state, decode_segment(org_id), actor=principal.actor())
    return Response(status_code=204)


@router.get("/arc", responses=ERRORS, summary="Every organization's Arc instance, with spool figures")
async def list_arc(request: Request, principal: AdminCaller) -> Response:
    _server_admin(principal)
    state = state_of(request)
    instances = await state.run(list_org_arcs, state)
    status = state.arc.status()
    body = {"instances": [view(i, status.get(i.org_id)) for i in instances], "default": status.get("*")}
    return _json(body)


__all__ = ["ArcInstanceRequest", "router"]
