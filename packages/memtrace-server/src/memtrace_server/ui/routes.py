"""The dashboard's pages, at ``/ui``. Each page asks the engine, the key store or `Admin` through the same
objects (and the same worker threads, `ServerState.run`) as the REST routes, with the signed-in key's org."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from memtrace.context import estimate_tokens
from memtrace.errors import AuthenticationError, NotFoundError, PermissionDeniedError, ValidationError
from memtrace.models import ContextOptions, ListOptions, Memory, SearchQuery, Session
from memtrace.stores.base import AgentSessionCounts
from memtrace.timeparse import now_us
from memtrace.validation import MEMORY_TYPES

from ..keys import PERMISSIONS
from ..middleware import decode_segment
from ..routes.admin import _org_scope, _server_admin
from ..state import ServerState
from ..wire import key_view, org_view
from .access import UIRoute, ViewerDep, checked_form, read_form, ui_of, verify_key
from .chart import build_chart
from .highlight import highlight
from .paging import Cursor, next_cursor
from .render import STATIC_DIR, page, secure
from .sessions import COOKIE_PATH, PRE_SESSION_COOKIE, SESSION_COOKIE

router = APIRouter(prefix="/ui", route_class=UIRoute, include_in_schema=False)

PAGE_SIZE = 50
MAX_SEARCH_PAGES = 20
LIST_PAGE_SIZE = 100
CHART_AGENTS = 5
RECENT_FOR_AGENTS = 500
AGENTS_PAGE_SIZE = 20
RECENT_OPEN_SESSIONS = 8
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
RANGES = {"24h": (HOUR_US, 24, 3), "7d": (DAY_US, 7, 1), "30d": (DAY_US, 30, 5)}
"""Overview ranges: bucket size, bucket count, label every n-th bucket."""
Text = Annotated[str | None, Query(max_length=1000)]


def _state(request: Request) -> ServerState:
    return ui_of(request).state


def _session_cookie(response: Response, value: str, max_age: int, secure_cookie: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookie,
    )


def _safe_next(target: str | None) -> str:
    """Only a path inside the dashboard (no open redirect to another site)."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui"


# ---------------------------------------------------------------- sign in / out


@router.get("/login")
async def login_form(request: Request, next: Text = None) -> Response:
    ui = ui_of(request)
    pre = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(16)
    response = page(
        "login.html",
        csrf=ui.sealer.csrf_token("login:" + pre),
        next=_safe_next(next),
        error=None,
        auth_enabled=ui.state.authenticator is not None,
        viewer=None,
        nav="",
    )
    response.set_cookie(
        PRE_SESSION_COOKIE, pre, max_age=3600, path=COOKIE_PATH, httponly=True, samesite="strict"
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    ui = ui_of(request)
    form = await read_form(request)
    pre = request.cookies.get(PRE_SESSION_COOKIE)
    target = _safe_next(form.get("next"))
    error = None
    if not ui.sealer.csrf_ok("login:" + pre if pre else None, form.get("csrf")):
        error = "The sign-in form expired. Try again."
    else:
        key = form.get("api_key", "").strip()
        try:
            await verify_key(request, key)
        except AuthenticationError:
            error = "That API key is not valid (or has been revoked or has expired)."
        except PermissionDeniedError:
            error = "That API key cannot read memories."
        if error is None:
            response: Response = RedirectResponse(target, status_code=303)
            _session_cookie(response, ui.sealer.seal(key), ui.sealer.ttl, request.url.scheme == "https")
            response.delete_cookie(PRE_SESSION_COOKIE, path=COOKIE_PATH)
            return secure(response)
    pre = pre or secrets.token_urlsafe(16)
    response = page(
        "login.html",
        401,
        csrf=ui.sealer.csrf_token("login:" + pre),
        next=target,
        error=error,
        auth_enabled=ui.state.authenticator is not None,
        viewer=None,
        nav="",
    )
    response.set_cookie(
        PRE_SESSION_COOKIE, pre, max_age=3600, path=COOKIE_PATH, httponly=True, samesite="strict"
    )
    return response


@router.post("/logout")
async def logout(request: Request, viewer: ViewerDep) -> Response:
    await checked_form(request, viewer)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return secure(response)


# ---------------------------------------------------------------- assets

_ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ASSETS = {
    p.name: (p.read_bytes(), _ASSET_TYPES[p.suffix]) for p in STATIC_DIR.iterdir() if p.suffix in _ASSET_TYPES
}


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    found = _ASSETS.get(name)
    if found is None:
        raise NotFoundError("no such file")
    body, media_type = found
    # URLs carry the assets' hash (?v=...), so a new release is fetched at once.
    return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


# ---------------------------------------------------------------- overview


async def _active_agents(state: ServerState, org_id: str, limit: int) -> list[tuple[str, int]]:
    """The agents behind the most recent memories, busiest first (agent ids are free-form: any memory may
    name a new one, so "who is active" is read from the memories themselves)."""
    recent = await state.run(state.engine.list_memories, org_id, ListOptions(limit=RECENT_FOR_AGENTS))
    return Counter(m.agent_id for m in recent.memories).most_common(limit)


@router.get("")
async def overview(request: Request, viewer: ViewerDep, range: Text = None) -> Response:
    state = _state(request)
    org = viewer.principal.org_id
    key = range if range in RANGES else "24h"
    bucket_us, buckets, label_every = RANGES[key]
    now = now_us()
    start = (now // bucket_us + 1 - buckets) * bucket_us
    engine = state.engine
    active = await _active_agents(state, org, RECENT_FOR_AGENTS)
    charted = [agent_id for agent_id, _ in active[:CHART_AGENTS]]

    def histogram(agent_id: str | None) -> Awaitable[list[int]]:
        return state.run(
            engine.memory_histogram,
            org,
            start_us=start,
            bucket_us=bucket_us,
            buckets=buckets,
            agent_id=agent_id,
        )

    # Independent store reads: side by side in the worker threads (SQLite readers run in parallel).
    # (Two gathers inside one, so each keeps its result types: a single gather over a starred list is list[object].)
    (by_type, sessions, total), per_agent = await asyncio.gather(
        asyncio.gather(
            state.run(engine.count_memories_by_type, org, since=key),
            state.run(
                engine.page_sessions, org, status="active", order="created", limit=RECENT_OPEN_SESSIONS
            ),
            histogram(None),
        ),
        asyncio.gather(*(histogram(agent_id) for agent_id in charted)),
    )
    series: list[tuple[str, list[int]]] = list(zip(charted, per_agent, strict=True))
    others = [t - sum(s[1][i] for s in series) for i, t in enumerate(total)]
    if any(others):
        series.append(("other agents", others))
    chart = build_chart(series, start, bucket_us, label_every=label_every)
    return page(
        "overview.html",
        viewer=viewer,
        nav="overview",
        range=key,
        ranges=list(RANGES),
        by_type=sorted(by_type.items(), key=lambda kv: -kv[1]),
        type_total=sum(by_type.values()),
        chart=chart,
        open_sessions=sessions.total,
        recent_sessions=sessions.sessions,
        agent_count=len(active),
    )


# ---------------------------------------------------------------- memories


@router.get("/memories")
async def memories(
    request: Request,
    viewer: ViewerDep,
    q: Text = None,
    agent_id: Text = None,
    session_id: Text = None,
    memory_type: Text = None,
    event_type: Text = None,
    tags: Text = None,
    since: Text = None,
    until: Text = None,
    order: Text = None,
    cursor: Text = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_SEARCH_PAGES)] = 1,
) -> Response:
    state = _state(request)
    org = viewer.principal.org_id
    filters = {
        "q": (q or "").strip() or None,
        "agent_id": agent_id or None,
        "session_id": session_id or None,
        "memory_type": memory_type or None,
        "event_type": event_type or None,
        "tags": tags or None,
        "since": since or None,
        "until": until or None,
        "order": order if order == "asc" else None,
    }
    ascending = filters["order"] == "asc"
    error = None
    items: list[Memory] = []
    has_more = False
    next_link: dict[str, Any] | None = None
    position = Cursor.decode(cursor)
    try:
        if filters["q"]:
            result = await state.run(
                state.engine.search_memories,
                org,
                SearchQuery(
                    query=filters["q"],
                    agent_id=filters["agent_id"],
                    session_id=filters["session_id"],
                    memory_types=[filters["memory_type"]] if filters["memory_type"] else None,
                    event_types=[filters["event_type"]] if filters["event_type"] else None,
                    tags=[t.strip() for t in filters["tags"].split(",") if t.strip()]
                    if filters["tags"]
                    else None,
                    since=filters["since"],
                    until=filters["until"],
                    limit=PAGE_SIZE + 1,
                    offset=(page_number - 1) * PAGE_SIZE,
                ),
            )
            items = result.results[:PAGE_SIZE]
            has_more = len(result.results) > PAGE_SIZE and page_number < MAX_SEARCH_PAGES
            if has_more:
                next_link = {**filters, "page": page_number + 1}
        else:
            opts = ListOptions(
                agent_id=filters["agent_id"],
                session_id=filters["session_id"],
                memory_type=filters["memory_type"],
                event_type=filters["event_type"],
                tags=filters["tags"],
                since=filters["since"],
                until=filters["until"],
                order="asc" if ascending else "desc",
                limit=PAGE_SIZE,
            )
            if position is not None:
                bound = position.bound(ascending)
                opts = opts.model_copy(
                    update={"since" if ascending else "until": bound, "offset": position.skip}
                )
            listed = await state.run(state.engine.list_memories, org, opts)
            items = listed.memories
            has_more = listed.has_more
            following = next_cursor(items, position)
            if has_more and following is not None:
                next_link = {**filters, "cursor": following.encode()}
    except ValidationError as exc:
        error = f"{exc.field}: {exc}" if exc.field else str(exc)
    rows = [(m, highlight(m.content, filters["q"])) for m in items]
    return page(
        "memories.html",
        viewer=viewer,
        nav="memories",
        f=filters,
        rows=rows,
        error=error,
        next_link=next_link,
        paged=position is not None or page_number > 1,
        memory_types=sorted(MEMORY_TYPES),
    )


@router.get("/memories/{memory_id}")
async def memory_detail(request: Request, viewer: ViewerDep, memory_id: str) -> Response:
    state = _state(request)
    memory = await state.run(state.engine.get_memory, viewer.principal.org_id, decode_segment(memory_id))
    return page("memory.html", viewer=viewer, nav="memories", m=memory)


# ---------------------------------------------------------------- sessions


@router.get("/sessions")
async def sessions(
    request: Request,
    viewer: ViewerDep,
    agent_id: Text = None,
    status: Text = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    state = _state(request)
    error = None
    shown: list[Session] = []
    total = 0
    try:
        found = await state.run(
            state.engine.page_sessions,
            viewer.principal.org_id,
            agent_id=agent_id or None,
            status=status or None,
            limit=LIST_PAGE_SIZE,
            offset=offset,
        )
        shown, total = found.sessions, found.total
    except ValidationError as exc:
        error = f"{exc.field}: {exc}"
    return page(
        "sessions.html",
        viewer=viewer,
        nav="sessions",
        sessions=shown,
        total=total,
        offset=offset,
        page_size=LIST_PAGE_SIZE,
        agent_id=agent_id or "",
        status=status or "",
        error=error,
    )


@router.get("/sessions/{session_id}")
async def session_detail(
    request: Request,
    viewer: ViewerDep,
    session_id: str,
    max_tokens: Text = None,
    since: Text = None,
) -> Response:
    state = _state(request)
    org = viewer.principal.org_id
    sid = decode_segment(session_id)
    budget: int | None = None
    if max_tokens:
        try:
            budget = int(max_tokens)
        except ValueError:
            raise ValidationError("invalid max_tokens: must be a positive integer", "max_tokens") from None
    context = await state.run(
        state.engine.get_session_context, org, sid, ContextOptions(max_tokens=budget, since=since or None)
    )
    try:
        session = await state.run(state.engine.get_session, org, sid)
    except NotFoundError:
        session = None  # memories may name a session that was never opened through the API
    recent = await state.run(state.engine.get_session_memories, org, sid, ListOptions(limit=20))
    return page(
        "session.html",
        viewer=viewer,
        nav="sessions",
        sid=sid,
        s=session,
        context=context,
        tokens=estimate_tokens(context.context),
        max_tokens=budget or "",
        since=since or "",
        recent=recent.memories,
        more=recent.has_more,
    )


# ---------------------------------------------------------------- agents


@router.get("/agents")
async def agents(
    request: Request, viewer: ViewerDep, offset: Annotated[int, Query(ge=0, le=100_000)] = 0
) -> Response:
    state = _state(request)
    org = viewer.principal.org_id
    registered = await state.run(state.engine.list_agents, org)
    # One row per agent with sessions (not one per session): the page needs every such agent to number them.
    session_counts = {c.agent_id: c for c in await state.run(state.engine.count_sessions_by_agent, org)}
    active = await _active_agents(state, org, RECENT_FOR_AGENTS)
    ids: dict[str, str] = {}
    for agent_id, _ in active:
        ids.setdefault(agent_id, "")
    for agent_id in session_counts:
        ids.setdefault(agent_id, "")
    for a in registered.agents:
        ids[a.id] = a.name
    shown = list(ids.items())[offset : offset + AGENTS_PAGE_SIZE]
    day_start = now_us() - DAY_US
    # A few index-range counts per agent (the per-type breakdown is on the agent's own page), asked side by side.
    rows = await asyncio.gather(*(_agent_row(state, org, a, n, day_start) for a, n in shown))
    rows = [{**row, **_session_numbers(session_counts.get(row["id"]))} for row in rows]
    return page(
        "agents.html",
        viewer=viewer,
        nav="agents",
        rows=rows,
        offset=offset,
        total=len(ids),
        page_size=AGENTS_PAGE_SIZE,
    )


def _session_numbers(counts: AgentSessionCounts | None) -> dict[str, int]:
    return {"sessions": counts.sessions, "open": counts.active} if counts else {"sessions": 0, "open": 0}


async def _agent_row(
    state: ServerState, org: str, agent_id: str, name: str, day_start: int
) -> dict[str, Any]:
    engine = state.engine
    total = await state.run(engine.count_memories, org, agent_id=agent_id)
    (last_day,) = await state.run(
        engine.memory_histogram, org, start_us=day_start, bucket_us=DAY_US, buckets=1, agent_id=agent_id
    )
    errors = await state.run(engine.count_memories, org, agent_id=agent_id, since="24h", event_type="error")
    newest = await state.run(engine.list_memories, org, ListOptions(agent_id=agent_id, limit=1))
    last = newest.memories[0].time if newest.memories else None
    return {"id": agent_id, "name": name, "total": total, "day": last_day, "errors": errors, "last": last}


@router.get("/agents/{agent_id}")
async def agent_detail(request: Request, viewer: ViewerDep, agent_id: str) -> Response:
    state = _state(request)
    org = viewer.principal.org_id
    aid = decode_segment(agent_id)
    bucket_us, buckets, label_every = RANGES["30d"]
    start = (now_us() // bucket_us + 1 - buckets) * bucket_us
    stats, counts = await asyncio.gather(
        state.run(state.engine.get_agent_stats, org, aid),
        state.run(
            state.engine.memory_histogram,
            org,
            start_us=start,
            bucket_us=bucket_us,
            buckets=buckets,
            agent_id=aid,
        ),
    )
    if stats.memory_count == 0 and stats.session_count == 0:
        raise NotFoundError("agent not found")
    chart = build_chart([(aid, counts)], start, bucket_us, label_every=label_every)
    return page("agent.html", viewer=viewer, nav="agents", aid=aid, stats=stats, chart=chart)


# ---------------------------------------------------------------- deleting

_TARGETS = {"memory": "memory_ids", "session": "session_id", "agent": "agent_id"}


def _delete_filter(target: str | None, ident: str | None) -> dict[str, Any]:
    if target not in _TARGETS or not ident:
        raise ValidationError("say what to delete: a memory, a session or an agent", "target")
    value: Any = [ident] if target == "memory" else ident
    return {_TARGETS[target]: value}


@router.get("/delete")
async def confirm_delete(
    request: Request, viewer: ViewerDep, target: Text = None, id: Text = None
) -> Response:
    viewer.require("write")
    state = _state(request)
    filters = _delete_filter(target, id)
    count = await state.run(state.engine.count_memories, viewer.principal.org_id, **filters)
    if target == "memory" and count == 0:
        raise NotFoundError("memory not found")
    return page("confirm_delete.html", viewer=viewer, nav="", target=target, ident=id, count=count)


@router.post("/delete")
async def delete(request: Request, viewer: ViewerDep) -> Response:
    viewer.require("write")
    form = await checked_form(request, viewer)
    state = _state(request)
    target, ident = form.get("target"), form.get("id")
    filters = _delete_filter(target, ident)
    deleted = await state.run(
        state.engine.delete_memories, viewer.principal.org_id, **filters, actor=viewer.principal.actor("ui")
    )
    return page("deleted.html", viewer=viewer, nav="", target=target, ident=ident, deleted=deleted)


# ---------------------------------------------------------------- admin


async def _admin_page(
    request: Request, viewer: Any, *, created: Any = None, error: str | None = None
) -> Response:
    state = _state(request)
    principal = viewer.principal
    if principal.is_server_admin:
        orgs = [org_view(r) for r in await state.run(state.admin.list_orgs)]
    else:
        orgs = [org_view(await state.run(state.admin.get_org, principal.org_id))]
    keys = [key_view(r) for r in await state.run(state.keys.list_keys, _org_scope(principal, None))]
    return page(
        "admin.html",
        400 if error else 200,
        viewer=viewer,
        nav="admin",
        orgs=orgs,
        keys=keys,
        created=created,
        error=error,
        permissions=PERMISSIONS,
        server_admin=principal.is_server_admin,
    )


@router.get("/admin")
async def admin(request: Request, viewer: ViewerDep) -> Response:
    viewer.require("admin")
    return await _admin_page(request, viewer)


@router.post("/admin/orgs")
async def create_org(request: Request, viewer: ViewerDep) -> Response:
    viewer.require("admin")
    form = await checked_form(request, viewer)
    _server_admin(viewer.principal)
    state = _state(request)
    try:
        await state.run(state.admin.create_org, form.get("name", ""), form.get("id") or None)
    except ValidationError as exc:
        return await _admin_page(request, viewer, error=f"{exc.field}: {exc}")
    return secure(RedirectResponse("/ui/admin", status_code=303))


@router.post("/admin/keys")
async def create_key(request: Request, viewer: ViewerDep) -> Response:
    viewer.require("admin")
    form = await checked_form(request, viewer)
    org_id = _org_scope(viewer.principal, form.get("org_id") or None) or viewer.principal.org_id
    permissions = [p for p in PERMISSIONS if form.get(f"perm_{p}")]
    state = _state(request)
    try:
        row, key = await state.run(state.keys.create, org_id, form.get("name", ""), permissions or "")
    except ValidationError as exc:
        return await _admin_page(request, viewer, error=f"{exc.field}: {exc}")
    # The key is in this response only (no-store), never in a URL or a cookie.
    return await _admin_page(request, viewer, created=key_view(row, key))


@router.post("/admin/keys/{key_id}/revoke")
async def revoke_key(request: Request, viewer: ViewerDep, key_id: int) -> Response:
    viewer.require("admin")
    await checked_form(request, viewer)
    state = _state(request)
    row = await state.run(state.keys.get_key, key_id)
    if row is None or not row.enabled or _org_scope(viewer.principal, None) not in (None, row.org_id):
        raise NotFoundError("API key not found")
    await state.run(state.keys.revoke, key_id)
    if state.authenticator is not None:
        state.authenticator.evict(key_id=key_id)
    return secure(RedirectResponse("/ui/admin", status_code=303))
