"""Errors on the wire: every failure is ``{"error": "<message>"}`` (plus ``"field"`` on validation errors), with
the status the SDK maps (spec §9.2): 400 validation, 401, 403, 404, 409, 413, 429, 503. Never a 500 for bad input.
The store's own conditions have theirs: 422 query too expensive, 507 disk full (with Retry-After), 503 store damaged,
each with a ``reason`` naming it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from memtrace.errors import (
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

from .wire import JSON, field_name, oversized_number_error

log = logging.getLogger("memtrace_server")

# Most specific first: NoArcInstanceError is a ServiceUnavailableError.
_KINDS: tuple[tuple[type[MemtraceError], str, int], ...] = (
    (ValidationError, "validation", 400),
    (AuthenticationError, "authentication", 401),
    (PermissionDeniedError, "permission", 403),
    (NotFoundError, "not_found", 404),
    (ConflictError, "conflict", 409),
    (QueryTooExpensiveError, "query_too_expensive", 422),
    (StorageFullError, "storage_full", 507),
    (StoreCorruptedError, "store_corrupted", 503),
    (RateLimitedError, "rate_limited", 429),
    (NoArcInstanceError, "no_arc_instance", 503),
    (ServiceUnavailableError, "unavailable", 503),
)


def error_body(message: str, **extra: Any) -> bytes:
    body = {"error": message, **{k: v for k, v in extra.items() if v is not None}}
    return json.dumps(body, ensure_ascii=False).encode()


def error_response(
    status: int, message: str, /, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """An error reply. `status` and `message` are positional-only, so a body field may be called ``status``
    (/ready's ``"status": "not ready"``)."""
    return Response(error_body(message, **extra), status_code=status, media_type=JSON, headers=headers)


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """How an exception is answered: status, JSON body, extra headers, and its kind for the error metric."""

    status: int
    body: bytes
    headers: dict[str, str]
    kind: str


def describe(exc: BaseException) -> ErrorReply:
    """The reply for any exception a handler raises. Bad input is 4xx; only our own faults are 500."""
    if isinstance(exc, MemtraceError):
        kind, status = "other", exc.status_code or 500
        for cls, name, code in _KINDS:
            if isinstance(exc, cls):
                kind, status = name, exc.status_code or code
                break
        headers: dict[str, str] = {}
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            headers["Retry-After"] = str(int(retry_after + 0.999))
        if isinstance(exc, AuthenticationError):
            headers["WWW-Authenticate"] = "Bearer"
        extra: dict[str, Any] = {}
        if isinstance(exc, ValidationError):
            extra["field"] = exc.field
        if kind in ("query_too_expensive", "storage_full", "store_corrupted"):
            extra["reason"] = kind  # lets clients tell these apart from other 422s and 503s
        if isinstance(exc, NoArcInstanceError):
            extra["hint"] = "ask an admin to run `memtrace org add-arc <org_id>`"
        return ErrorReply(status, error_body(exc.message, **extra), headers, kind)
    if isinstance(exc, OverflowError):
        # A number too large for the store (e.g. offset=2**70) is bad input, not a server fault.
        return ErrorReply(
            400, error_body(f"a number in the request is out of range: {exc}"), {}, "validation"
        )
    if isinstance(exc, UnicodeEncodeError):
        # Text that is not valid Unicode (a lone surrogate escaped in JSON) cannot be stored.
        message = "invalid text in the request: strings must be valid Unicode (no lone surrogates)"
        return ErrorReply(400, error_body(message), {}, "validation")
    return ErrorReply(500, error_body("internal server error"), {}, "internal")


def _count(request: Request, kind: str) -> None:
    request.app.state.memtrace.metrics.errors.labels(kind).inc()


async def described_error(request: Request, exc: Exception) -> Response:
    reply = describe(exc)
    _count(request, reply.kind)
    if reply.status >= 500:
        if reply.kind == "internal":
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        else:
            log.warning("%s %s -> %d: %s", request.method, request.url.path, reply.status, exc)
    return Response(reply.body, status_code=reply.status, media_type=JSON, headers=reply.headers or None)


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def request_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own validation (query, path and declared bodies) as 400 naming the field."""
    assert isinstance(exc, RequestValidationError)
    _count(request, "validation")
    err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": ""}
    loc = tuple(err.get("loc", ()))
    where = loc[0] if loc else ""
    field = field_name(loc[1:]) if where in ("query", "path", "body", "header") else field_name(loc)
    if err.get("type") == "json_invalid":
        return error_response(400, "invalid request body: malformed JSON", field="body")
    if not field and where == "body" and not _is_json(request):
        # FastAPI reads a declared body only as JSON; say so rather than "Input should be a valid dictionary".
        return error_response(
            400, "invalid request body: send a JSON object with Content-Type: application/json", field="body"
        )
    if not field:
        return error_response(400, f"invalid request body: {err.get('msg')}", field="body")
    if err.get("type") == "missing":
        return error_response(400, f"{field} is required", field=field)
    return error_response(400, f"invalid {field}: {err.get('msg')}", field=field)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI could not parse a declared body; name the field when it is a number too large to parse.
        oversized = oversized_number_error(await request.body())
        if oversized is not None:
            return await described_error(request, oversized)
    kinds = {404: "not_found", 405: "method_not_allowed"}
    _count(request, kinds.get(exc.status_code, "http"))
    message = {404: "not found", 405: "method not allowed"}.get(exc.status_code) or str(exc.detail)
    return error_response(exc.status_code, message, headers=dict(exc.headers or {}) or None)


def install(app: FastAPI) -> None:
    app.add_exception_handler(MemtraceError, described_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OverflowError, described_error)
    app.add_exception_handler(UnicodeEncodeError, described_error)
    app.add_exception_handler(Exception, described_error)
