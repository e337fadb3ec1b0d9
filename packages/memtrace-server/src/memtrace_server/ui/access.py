"""Who is looking at the dashboard: the session cookie opened and its key re-verified on every request, the
form bodies read within a bound, and the CSRF check every state-changing form goes through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from memtrace.errors import (
    AuthenticationError,
    ConflictError,
    MemtraceError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    ValidationError,
)

from ..auth import authenticate_key, require_permission
from ..keys import Principal
from ..state import ServerState
from .render import page, secure
from .sessions import COOKIE_PATH, SESSION_COOKIE, SessionData, SessionSealer

MAX_FORM_BYTES = 16 * 1024


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in caller of a dashboard page."""

    principal: Principal
    session: SessionData
    csrf: str

    @property
    def can_write(self) -> bool:
        return self.principal.allows("write")

    @property
    def can_admin(self) -> bool:
        return self.principal.allows("admin")

    def require(self, permission: str) -> None:
        if not self.principal.allows(permission):
            raise PermissionDeniedError(f"this API key lacks the '{permission}' permission")


@dataclass(frozen=True, slots=True)
class UIContext:
    """What `app` gives the dashboard: the server state and the cookie sealer."""

    state: ServerState
    sealer: SessionSealer


def ui_of(request: Request) -> UIContext:
    return request.app.state.memtrace_ui  # type: ignore[no-any-return]


async def current_viewer(request: Request) -> Viewer:
    """The signed-in caller; the key in the session is verified again (cached) so a revoked key stops here."""
    ui = ui_of(request)
    session = ui.sealer.open(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    try:
        principal = await verify_key(request, session.api_key)
    except AuthenticationError:
        raise SignInRequired from None
    return Viewer(principal, session, ui.sealer.csrf_token(session.session_id))


async def verify_key(request: Request, api_key: str) -> Principal:
    """The principal of `api_key`, by the rule every ``/api/`` request goes through (the authenticator's cache,
    revocations, the per-address failure budget, the org's rate limit); it must hold ``read``."""
    state = ui_of(request).state
    client = request.client.host if request.client is not None else None
    principal = await authenticate_key(state, api_key or None, client)
    return require_permission(principal, "read")


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body (at most 16 KiB), one value per field."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValidationError("form too large", "body")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("unreadable form", "body") from None
    return {k: v[-1] for k, v in fields.items()}


async def checked_form(request: Request, viewer: Viewer) -> dict[str, str]:
    """The form of a state-changing request, after its CSRF token is checked against the session."""
    form = await read_form(request)
    if not ui_of(request).sealer.csrf_ok(viewer.session.session_id, form.get("csrf")):
        raise PermissionDeniedError(
            "the form has expired or did not come from this dashboard: reload and retry"
        )
    return form


_STATUS: tuple[tuple[type[MemtraceError], int, str], ...] = (
    (ValidationError, 400, "That request is not valid"),
    (PermissionDeniedError, 403, "Not allowed"),
    (NotFoundError, 404, "Not found"),
    (ConflictError, 409, "That conflicts with what is stored"),
    (RateLimitedError, 429, "Too many requests"),
    (ServiceUnavailableError, 503, "The store is busy"),
    (MemtraceError, 400, "That did not work"),
)


class UIRoute(APIRoute):
    """A dashboard route: errors become HTML pages, a missing session a redirect to sign-in, and every
    response carries the security headers."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                target = "/ui/login"
                if request.method == "GET" and request.url.path != "/ui/login":
                    target += "?" + _next_param(request)
                response = RedirectResponse(target, status_code=303)
                response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
                return secure(response)
            except MemtraceError as exc:
                status, title = next((s, t) for kind, s, t in _STATUS if isinstance(exc, kind))
                viewer = await _maybe_viewer(request)
                return page(
                    "error.html",
                    status,
                    title=title,
                    message=str(exc),
                    field=getattr(exc, "field", None),
                    viewer=viewer,
                    nav="",
                )
            if "content-security-policy" not in response.headers:
                secure(response, cache=response.headers.get("cache-control", "").startswith("public"))
            return response

        return route


def _next_param(request: Request) -> str:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return urlencode({"next": path})


async def _maybe_viewer(request: Request) -> Viewer | None:
    try:
        return await current_viewer(request)
    except (SignInRequired, MemtraceError):
        return None
