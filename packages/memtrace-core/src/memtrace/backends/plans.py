"""HTTP request plans: what an operation sends to a memtrace server and how it reads the answers, without I/O.

An operation's ``http()`` is a generator, a *plan*: it yields `HttpRequest` values and is sent back an `HttpReply`
for each, then returns the operation's result. Most plans send one request; ``create_session(exist_ok=True)``
sends a second (GET the row) when the first answers 409. The sync and async transports in `.http` drive the same
plans (`drive` / `adrive`), so they differ only where the bytes move. Nothing here imports httpx.

Error replies become the exceptions the embedded engine raises:

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
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

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
from ..models import ListOptions

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request to send. `content`, when set, is the body, of `content_type` (JSON unless said).

    `sink`, when set, takes a successful response's body as it arrives, chunk by chunk (an export), and the
    reply's `content` is then empty; an error response is read whole as usual."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    content: bytes | None = None
    content_type: str = "application/json"
    sink: Callable[[bytes], None] | None = None


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A server's answer to one `HttpRequest`."""

    request: HttpRequest
    status: int
    content: bytes
    retry_after: str | None = None

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise error_for_status(self.status, self.content, self.retry_after)

    def model(self, kind: type[M]) -> M:
        """The successful body as `kind`; the mapped exception for an error status."""
        self.raise_for_status()
        try:
            return kind.model_validate_json(self.content)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise MemtraceError(
                f"unexpected response from the server for {self.request.method} {self.request.path}: {exc}",
                status_code=self.status,
            ) from None


HttpPlan = Generator[HttpRequest, HttpReply, T]
"""A request plan returning `T`: yields requests, is sent their replies."""


def _first_request(plan: HttpPlan[T]) -> HttpRequest:
    """The plan's first request: building it serialises the arguments, which pydantic may refuse (metadata
    nested too deeply for JSON, say); that is bad input, not a crash."""
    try:
        return next(plan)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"the request cannot be sent as JSON: {exc}", "body") from None


def drive(plan: HttpPlan[T], send: Callable[[HttpRequest], HttpReply]) -> T:
    """Run `plan` with a blocking `send`."""
    try:
        request = _first_request(plan)
        while True:
            request = plan.send(send(request))
    except StopIteration as stop:
        result: T = stop.value
        return result


async def adrive(plan: HttpPlan[T], send: Callable[[HttpRequest], Awaitable[HttpReply]]) -> T:
    """Run `plan` with an awaitable `send`."""
    try:
        request = _first_request(plan)
        while True:
            request = plan.send(await send(request))
    except StopIteration as stop:
        result: T = stop.value
        return result


# ------------------------------------------------------------------ building requests


def segment(value: object, field: str) -> str:
    """A path parameter, percent-encoded (``/`` included, as memtrace-sdk does)."""
    if not isinstance(value, str) or value == "":
        if field == "memory_id":
            raise ValidationError(f"invalid {field}: expected 'mem_' followed by 26 base32 characters", field)
        raise ValidationError(f"{field} is required", field)
    return quote(value, safe="")


def require(value: object, kind: type[BaseModel], field: str) -> None:
    """Fail before sending when a model argument is not that model (a dict, say)."""
    if not isinstance(value, kind):
        raise ValidationError(f"{field}: expected {kind.__name__}", field)


def body(model: BaseModel) -> bytes:
    return model.model_dump_json(exclude_none=True).encode()


def json_body(data: Mapping[str, Any], field: str) -> bytes:
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"invalid {field}: not JSON-serialisable ({exc})", field) from None


def list_params(opts: ListOptions | None, *, drop: str | None = None) -> dict[str, Any]:
    """List filters as query parameters (tags comma-joined)."""
    if opts is None:
        return {}
    require(opts, ListOptions, "opts")
    params = opts.model_dump(exclude_none=True)
    if isinstance(params.get("tags"), list):
        params["tags"] = ",".join(params["tags"])
    if drop:
        params.pop(drop, None)
    return params


# ------------------------------------------------------------------ reading errors


def error_for_status(status: int, content: bytes, retry_after: str | None = None) -> MemtraceError:
    """The memtrace exception for an error answer (the table in the module docstring)."""
    text = content.decode("utf-8", "replace").strip()
    message, field, reason = "", None, None
    try:
        data = json.loads(content)
    except ValueError:
        message = text
    else:
        if isinstance(data, dict):
            message = str(data.get("error") or "")
            field = data.get("field") if isinstance(data.get("field"), str) else None
            reason = data.get("reason")
        else:
            message = text
    message = message or f"HTTP {status}"
    delay = _seconds(retry_after)
    if status == 422 and reason == "query_too_expensive":
        return QueryTooExpensiveError(message)
    if status == 507:
        return StorageFullError(message, retry_after=delay)
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
        return RateLimitedError(message, retry_after=delay)
    if status == 503:
        if "arc instance" in message.lower():
            return NoArcInstanceError(message, retry_after=delay)
        if reason == "store_corrupted":
            return StoreCorruptedError(message)
        return ServiceUnavailableError(message, retry_after=delay)
    return MemtraceError(message, status_code=status)


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


__all__ = [
    "HttpPlan",
    "HttpReply",
    "HttpRequest",
    "adrive",
    "body",
    "drive",
    "error_for_status",
    "json_body",
    "list_params",
    "require",
    "segment",
]
