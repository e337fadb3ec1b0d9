"""Remote backends: the client API over HTTP to a memtrace server, with httpx.

`HttpBackend` and `AsyncHttpBackend` share one plan per client method (which request to send, how to read the
answer); only the transport differs. Errors come back as the same exceptions the embedded engine raises:

=========  ==================================================================
400, 422   `ValidationError`, with ``field`` from the error body; `QueryTooExpensiveError` for a 422 whose
           ``reason`` is ``query_too_expensive``
401        `AuthenticationError`
403        `PermissionDeniedError`
404        `NotFoundError`
409        `ConflictError`
413        `ValidationError` (``field="body"``): the request is over the server's size limit
429        `RateLimitedError`, with ``retry_after`` from the Retry-After header
503        `NoArcInstanceError` when the message mentions an "arc instance", `StoreCorruptedError` when the
           ``reason`` is ``store_corrupted``, else `ServiceUnavailableError`
507        `StorageFullError`, with ``retry_after`` from the Retry-After header
other      `MemtraceError` with the status code
=========  ==================================================================

A server that cannot be reached (connection refused, timeout) raises `ServiceUnavailableError` too: like a
503, the call may succeed if retried later.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from ..errors import (
    AuthenticationError,
    ConflictError,
    MemtraceError,
    NoArcInstanceError,
    NotFoundError,
    PermissionDeniedError,
    QueryTooExpensiveError,
    RateLimitedError,
    ServiceUnavailableError,
    StorageFullError,
    StoreCorruptedError,
    ValidationError,
)
from ..models import (
    AddMemoryRequest,
    Agent,
    AgentList,
    AgentStats,
    BatchResult,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    MemoryList,
    RegisterAgentRequest,
    SearchQuery,
    SearchResult,
    Session,
    SessionContext,
    SessionList,
)

USER_AGENT = "memtrace-python"
_JSON_HEADERS = {"content-type": "application/json"}


class _BatchResponse(BaseModel):
    memories: list[Memory]
    count: int = 0
    skipped: int = 0
    skipped_indexes: list[int] = []


class _Deleted(BaseModel):
    deleted: int


_REQUESTS = TypeAdapter(list[AddMemoryRequest])


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One request, and how to turn its successful response into the client method's result."""

    method: str
    path: str
    parse: Callable[[httpx.Response], Any]
    params: dict[str, Any] | None = None
    content: bytes | None = None


# ------------------------------------------------------------------ building requests


def _segment(value: Any, field: str) -> str:
    """A path parameter, percent-encoded (``/`` included, as memtrace-sdk does)."""
    if not isinstance(value, str) or value == "":
        if field == "memory_id":
            raise ValidationError(f"invalid {field}: expected 'mem_' followed by 26 base32 characters", field)
        raise ValidationError(f"{field} is required", field)
    return quote(value, safe="")


def _require(value: Any, kind: type[BaseModel], field: str) -> None:
    if not isinstance(value, kind):
        raise ValidationError(f"{field}: expected {kind.__name__}", field)


def _model(kind: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    return lambda response: kind.model_validate_json(response.content)


def _none(response: httpx.Response) -> None:
    return None


def _batch(response: httpx.Response) -> BatchResult:
    data = _BatchResponse.model_validate_json(response.content)
    return BatchResult(data.memories, skipped=data.skipped, skipped_indexes=data.skipped_indexes)


def _deleted(response: httpx.Response) -> int:
    return _Deleted.model_validate_json(response.content).deleted


def _body(model: BaseModel) -> bytes:
    return model.model_dump_json(exclude_none=True).encode()


def _list_params(opts: ListOptions | None, *, drop: str | None = None) -> dict[str, Any]:
    if opts is None:
        return {}
    _require(opts, ListOptions, "opts")
    params = opts.model_dump(exclude_none=True)
    if isinstance(params.get("tags"), list):
        params["tags"] = ",".join(params["tags"])
    if drop:
        params.pop(drop, None)
    return params


def _plan_add_memory(req: AddMemoryRequest) -> HttpCall:
    _require(req, AddMemoryRequest, "request")
    return HttpCall("POST", "/api/v1/memories", _model(Memory), content=_body(req))


def _plan_add_memories(reqs: Sequence[AddMemoryRequest]) -> HttpCall:
    if not isinstance(reqs, Sequence) or isinstance(reqs, (str, bytes)):
        raise ValidationError("memories: expected a list of memories", "memories")
    for i, req in enumerate(reqs):
        _require(req, AddMemoryRequest, f"memories[{i}]")
    content = b'{"memories":' + _REQUESTS.dump_json(list(reqs), exclude_none=True) + b"}"
    return HttpCall("POST", "/api/v1/memories", _batch, content=content)


def _plan_list_memories(opts: ListOptions | None = None) -> HttpCall:
    return HttpCall("GET", "/api/v1/memories", _model(MemoryList), params=_list_params(opts or ListOptions()))


def _plan_search_memories(q: SearchQuery) -> HttpCall:
    _require(q, SearchQuery, "query")
    return HttpCall("POST", "/api/v1/search", _model(SearchResult), content=_body(q))


def _plan_get_memory(memory_id: str) -> HttpCall:
    return HttpCall("GET", f"/api/v1/memories/{_segment(memory_id, 'memory_id')}", _model(Memory))


def _plan_delete_memory(memory_id: str) -> HttpCall:
    return HttpCall("DELETE", f"/api/v1/memories/{_segment(memory_id, 'memory_id')}", _none)


def _plan_delete_memories(
    *,
    agent_id: str | None = None,
    session_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    memory_type: str | None = None,
    event_type: str | None = None,
    tags: str | list[str] | None = None,
    memory_ids: list[str] | None = None,
) -> HttpCall:
    filters: dict[str, Any] = {
        "agent_id": agent_id,
        "session_id": session_id,
        "since": since,
        "until": until,
        "memory_type": memory_type,
        "event_type": event_type,
        "tags": tags,
        "memory_ids": memory_ids,
    }
    given = {k: v for k, v in filters.items() if v is not None}
    if memory_ids is not None:
        # Up to 1,000 ids do not belong in a URL: the server takes the same filters as a JSON body.
        try:
            content = json.dumps(given, separators=(",", ":")).encode()
        except (TypeError, ValueError):
            raise ValidationError("memory_ids: a list of memory ids", "memory_ids") from None
        return HttpCall("DELETE", "/api/v1/memories", _deleted, content=content)
    if isinstance(given.get("tags"), list):
        given["tags"] = ",".join(given["tags"])
    params = {k: v for k, v in given.items() if v != ""}
    return HttpCall("DELETE", "/api/v1/memories", _deleted, params=params)


def _plan_register_agent(req: RegisterAgentRequest) -> HttpCall:
    _require(req, RegisterAgentRequest, "request")
    return HttpCall("POST", "/api/v1/agents", _model(Agent), content=_body(req))


def _plan_list_agents() -> HttpCall:
    return HttpCall("GET", "/api/v1/agents", _model(AgentList))


def _plan_get_agent(agent_id: str) -> HttpCall:
    return HttpCall("GET", f"/api/v1/agents/{_segment(agent_id, 'agent_id')}", _model(Agent))


def _plan_get_agent_stats(agent_id: str) -> HttpCall:
    return HttpCall("GET", f"/api/v1/agents/{_segment(agent_id, 'agent_id')}/stats", _model(AgentStats))


def _plan_get_agent_memories(agent_id: str, opts: ListOptions | None = None) -> HttpCall:
    return HttpCall(
        "GET",
        f"/api/v1/agents/{_segment(agent_id, 'agent_id')}/memories",
        _model(MemoryList),
        params=_list_params(opts, drop="agent_id"),
    )


def _plan_delete_agent(agent_id: str) -> HttpCall:
    if not isinstance(agent_id, str) or agent_id == "":
        raise NotFoundError("agent not found")  # as the engine answers: no agent has that id
    return HttpCall("DELETE", f"/api/v1/agents/{quote(agent_id, safe='')}", _none)


def _plan_create_session(req: CreateSessionRequest) -> HttpCall:
    _require(req, CreateSessionRequest, "request")
    return HttpCall("POST", "/api/v1/sessions", _model(Session), content=_body(req))


def _plan_get_session(session_id: str) -> HttpCall:
    return HttpCall("GET", f"/api/v1/sessions/{_segment(session_id, 'session_id')}", _model(Session))


def _plan_update_session(
    session_id: str, *, status: str | None = None, metadata: dict[str, Any] | None = None
) -> HttpCall:
    body: dict[str, Any] = {}
    if status is not None:
        body["status"] = status
    if metadata is not None:
        body["metadata"] = metadata
    try:
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"invalid metadata: not JSON-serialisable ({exc})", "metadata") from None
    return HttpCall(
        "PUT", f"/api/v1/sessions/{_segment(session_id, 'session_id')}", _model(Session), content=content
    )


def _plan_close_session(session_id: str) -> HttpCall:
    return _plan_update_session(session_id, status="closed")


def _plan_list_sessions(agent_id: str | None = None) -> HttpCall:
    params = {"agent_id": agent_id} if agent_id else {}
    return HttpCall("GET", "/api/v1/sessions", _model(SessionList), params=params)


def _plan_get_session_memories(session_id: str, opts: ListOptions | None = None) -> HttpCall:
    return HttpCall(
        "GET",
        f"/api/v1/sessions/{_segment(session_id, 'session_id')}/memories",
        _model(MemoryList),
        params=_list_params(opts, drop="session_id"),
    )


def _plan_get_session_context(session_id: str, opts: ContextOptions | None = None) -> HttpCall:
    if opts is not None:
        _require(opts, ContextOptions, "opts")
    return HttpCall(
        "POST",
        f"/api/v1/sessions/{_segment(session_id, 'session_id')}/context",
        _model(SessionContext),
        content=_body(opts) if opts is not None else b"{}",
    )


PLANS: dict[str, Callable[..., HttpCall]] = {
    "add_memory": _plan_add_memory,
    "add_memories": _plan_add_memories,
    "list_memories": _plan_list_memories,
    "search_memories": _plan_search_memories,
    "get_memory": _plan_get_memory,
    "delete_memory": _plan_delete_memory,
    "delete_memories": _plan_delete_memories,
    "register_agent": _plan_register_agent,
    "list_agents": _plan_list_agents,
    "get_agent": _plan_get_agent,
    "get_agent_stats": _plan_get_agent_stats,
    "get_agent_memories": _plan_get_agent_memories,
    "delete_agent": _plan_delete_agent,
    "create_session": _plan_create_session,
    "get_session": _plan_get_session,
    "update_session": _plan_update_session,
    "close_session": _plan_close_session,
    "list_sessions": _plan_list_sessions,
    "get_session_memories": _plan_get_session_memories,
    "get_session_context": _plan_get_session_context,
}
"""One plan per client method: every name in `memtrace.backends.local.CLIENT_METHODS`."""


def plan(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> HttpCall:
    builder = PLANS.get(method)
    if builder is None:
        raise AttributeError(method)
    try:
        return builder(*args, **kwargs)
    except (ValueError, RecursionError) as exc:  # pydantic cannot serialise it (e.g. nested too deeply)
        raise ValidationError(f"the request cannot be sent as JSON: {exc}", "body") from None


# ------------------------------------------------------------------ reading responses


def error_for(response: httpx.Response) -> MemtraceError:
    """The memtrace exception for an error response."""
    status = response.status_code
    message, field, reason = "", None, None
    try:
        body = json.loads(response.content)
    except ValueError:
        message = response.text.strip()
    else:
        if isinstance(body, dict):
            message = str(body.get("error") or "")
            field = body.get("field") if isinstance(body.get("field"), str) else None
            reason = body.get("reason")
        else:
            message = response.text.strip()
    message = message or f"HTTP {status}"
    retry_after = _retry_after(response)
    if status == 422 and reason == "query_too_expensive":
        return QueryTooExpensiveError(message)
    if status == 507:
        return StorageFullError(message, retry_after=retry_after)
    if status in (400, 422):
        return ValidationError(message, field, status_code=status)
    if status == 413:
        return ValidationError(message, field or "body", status_code=status)
    if status == 401:
        return AuthenticationError(message)
    if status == 403:
        return PermissionDeniedError(message)
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ConflictError(message)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after)
    if status == 503:
        if "arc instance" in message.lower():
            return NoArcInstanceError(message, retry_after=retry_after)
        if reason == "store_corrupted":
            return StoreCorruptedError(message)
        return ServiceUnavailableError(message, retry_after=retry_after)
    return MemtraceError(message, status_code=status)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _result(call: HttpCall, response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise error_for(response)
    try:
        return call.parse(response)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise MemtraceError(
            f"unexpected response from the server for {call.method} {call.path}: {exc}",
            status_code=response.status_code,
        ) from None


def _unreachable(base_url: str, exc: httpx.TransportError) -> ServiceUnavailableError:
    return ServiceUnavailableError(f"cannot reach the memtrace server at {base_url}: {exc!r}")


def _headers(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key, "user-agent": USER_AGENT, "accept": "application/json"}


# ------------------------------------------------------------------ transports


class HttpBackend:
    """The client API against a memtrace server (synchronous). Thread-safe: share one per process."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        request = plan(method, args, kwargs)
        try:
            response = self._client.request(
                request.method,
                request.path,
                params=request.params,
                content=request.content,
                headers=_JSON_HEADERS if request.content is not None else None,
            )
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return _result(request, response)

    def close(self) -> None:
        self._client.close()


class AsyncHttpBackend:
    """The client API against a memtrace server (asyncio)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    async def call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        request = plan(method, args, kwargs)
        try:
            response = await self._client.request(
                request.method,
                request.path,
                params=request.params,
                content=request.content,
                headers=_JSON_HEADERS if request.content is not None else None,
            )
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        return _result(request, response)

    async def close(self) -> None:
        await self._client.aclose()


__all__ = ["PLANS", "AsyncHttpBackend", "HttpBackend", "HttpCall", "error_for", "plan"]
