"""Exceptions raised by memtrace clients.

The hierarchy is a superset of memtrace-sdk 0.2.0's: code that catches `MemtraceError`, `ConflictError`,
`NotFoundError`, `AuthenticationError` or `NoArcInstanceError` from that SDK keeps working unchanged.
Every exception carries `.message` and `.status_code` (the HTTP status the server answers with).
"""

from __future__ import annotations


class MemtraceError(Exception):
    """Base class of every memtrace error."""

    status_code: int | None = None

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class ValidationError(MemtraceError):
    """Bad input. `field` names the offending field (e.g. ``agent_id`` or ``memories[3].tags``)."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message, status_code)
        self.field = field


class AuthenticationError(MemtraceError):
    """The API key is missing, unknown, revoked or expired (401)."""

    status_code = 401


class PermissionDeniedError(MemtraceError):
    """The API key is valid but lacks the permission the call needs (403)."""

    status_code = 403


class NotFoundError(MemtraceError):
    """The memory, agent or session does not exist in the caller's organisation (404)."""

    status_code = 404


class ConflictError(MemtraceError):
    """A duplicate: the memory's dedup key was seen within the window, or the name/id is taken (409)."""

    status_code = 409


class RateLimitedError(MemtraceError):
    """Too many requests for this organisation (429). `retry_after` is in seconds, when known."""

    status_code = 429

    def __init__(
        self, message: str, retry_after: float | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


class ServiceUnavailableError(MemtraceError):
    """The store cannot take the write right now (backpressure); retry after `retry_after` seconds (503)."""

    status_code = 503

    def __init__(
        self, message: str, retry_after: float | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


class NoArcInstanceError(ServiceUnavailableError):
    """The organisation has no Arc instance configured (503), as memtrace-sdk 0.2.0 names it."""


class QueryTooExpensiveError(MemtraceError):
    """One query did more work than a query may (the store's time budget, see `memtrace.limits`); narrow it
    (an agent, a session, a time range) and try again (422)."""

    status_code = 422


class StoreError(MemtraceError):
    """The store failed in a way that is not the caller's fault (500); the message says what to do."""

    status_code = 500


class StorageFullError(StoreError):
    """The disk holding the store is full: nothing was written. Reads still work; free space and retry (507)."""

    status_code = 507

    def __init__(
        self, message: str, retry_after: float | None = 30.0, status_code: int | None = None
    ) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


class StoreCorruptedError(StoreError):
    """The store's files are damaged; memtrace refuses to use them rather than serve wrong answers (503)."""

    status_code = 503


__all__ = [
    "AuthenticationError",
    "ConflictError",
    "MemtraceError",
    "NoArcInstanceError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryTooExpensiveError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "StorageFullError",
    "StoreCorruptedError",
    "StoreError",
    "ValidationError",
]
