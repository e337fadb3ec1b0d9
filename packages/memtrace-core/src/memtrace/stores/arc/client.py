"""`ArcClient`: Arc's HTTP API as memtrace uses it, with every failure sorted by what the caller should do.

For a write the question is always "did Arc take it?":

- `ArcUnavailable`: no (refused connection, 503, 502, 429). Retry the same rows later.
- `ArcAmbiguous`: maybe (the request went out, the answer did not come back: read timeout, dropped
  connection, 504). Retrying at once could store the rows twice; wait until Arc would show them, then look.
- `ArcRejected`: no, and the same bytes will fail again (400, 413, 500 type errors; spec §9 says "500 usually
  a data-type problem, so do not retry blindly").
- `ArcAuthError`: no; the token is wrong or lacks a permission (401, 403).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from .config import ArcConfig

USER_AGENT = "memtrace-arc"


class ArcError(Exception):
    """Something Arc (or the way to it) answered that was not success."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ArcUnavailable(ArcError):
    """Arc did not take the request; trying again later is right."""


class ArcAmbiguous(ArcError):
    """The request may have been processed; its answer was lost."""


class ArcRejected(ArcError):
    """Arc refused this request and would refuse it again."""


class ArcAuthError(ArcError):
    """The token is missing, wrong, or lacks the permission (admin for delete and flush)."""


class ArcQueryError(ArcError):
    """Arc could not run a query (SQL error, validation)."""


class ArcDeleteDisabled(ArcError):
    """Arc runs with ``delete.enabled=false``."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    data: list[list[Any]]


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:500]
    return str(body)[:500]


class ArcClient:
    """One Arc database over HTTP. Thread-safe (httpx pools connections); `close()` when done."""

    def __init__(self, config: ArcConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        headers = {"User-Agent": USER_AGENT, "x-arc-database": config.database}
        timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        self._http = httpx.Client(
            base_url=config.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def _auth(self, admin: bool = False) -> dict[str, str]:
        token = (self.config.admin_token or self.config.token) if admin else self.config.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _send(self, method: str, path: str, *, admin: bool = False, **kwargs: Any) -> httpx.Response:
        headers = {**self._auth(admin), **kwargs.pop("headers", {})}
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ArcUnavailable(f"cannot reach {self.config.redacted()}: {exc!r}") from exc
        except httpx.TransportError as exc:
            # Read/write timeouts, resets, protocol errors: the request may have been processed.
            raise ArcAmbiguous(f"no answer from {self.config.redacted()}: {exc!r}") from exc

    @staticmethod
    def _raise_for(response: httpx.Response, what: str) -> None:
        status = response.status_code
        text = f"{what}: Arc answered {status}: {_error_text(response)}"
        if status in (401, 403):
            raise ArcAuthError(text, status)
        if status in (429, 502, 503):
            raise ArcUnavailable(text, status)
        if status == 504:
            raise ArcAmbiguous(text, status)
        raise ArcRejected(text, status)

    # --------------------------------------------------------------- writes

    def write(self, body: bytes) -> None:
        """POST a columnar msgpack body (gzipped or not: Arc looks at the magic bytes)."""
        headers = {"Content-Type": "application/msgpack"}
        if body[:2] == b"\x1f\x8b":
            headers["Content-Encoding"] = "gzip"
        response = self._send("POST", "/api/v1/write/msgpack", content=body, headers=headers)
        if response.status_code in (200, 204):
            return
        self._raise_for(response, "write")

    def flush(self) -> None:
        """Make every buffered row queryable (admin). Needed before a delete: Arc's delete only rewrites files."""
        response = self._send("POST", "/api/v1/write/line-protocol/flush", admin=True)
        if response.status_code == 200:
            return
        self._raise_for(response, "flush")

    # ---------------------------------------------------------------- reads

    def query(self, sql: str) -> QueryResult:
        """Run one SQL statement; rows as lists, times as RFC3339 strings, NaN as None.

        A measurement Arc has no files for (not flushed yet, or another name) is an empty result, not an
        error: Arc answers ``success`` with ``columns: []``."""
        response = self._send(
            "POST",
            "/api/v1/query",
            content=json.dumps({"sql": sql}).encode(),
            headers={"Content-Type": "application/json"},
        )
        if response.status_code != 200:
            status = response.status_code
            if status in (401, 403):
                raise ArcAuthError(f"query: Arc answered {status}: {_error_text(response)}", status)
            if status in (429, 502, 503, 504):
                raise ArcUnavailable(f"query: Arc answered {status}: {_error_text(response)}", status)
            raise ArcQueryError(f"query: Arc answered {status}: {_error_text(response)}", status)
        try:
            body = response.json()
        except ValueError as exc:
            raise ArcQueryError(f"query: Arc answered 200 with a body that is not JSON: {exc}") from exc
        if not body.get("success", False):
            raise ArcQueryError(f"query: {body.get('error') or 'Arc reported failure'}", 200)
        return QueryResult(list(body.get("columns") or []), list(body.get("data") or []))

    # -------------------------------------------------------------- deletes

    def delete_enabled(self) -> bool:
        response = self._send("GET", "/api/v1/delete/config", admin=True)
        if response.status_code != 200:
            self._raise_for(response, "delete config")
        return bool(response.json().get("enabled"))

    def delete(self, measurement: str, where: str) -> int:
        """Delete the rows matching `where` (a bare predicate) from Parquet files; returns Arc's count."""
        payload = {
            "database": self.config.database,
            "measurement": measurement,
            "where": where,
            "dry_run": False,
            "confirm": True,
        }
        response = self._send(
            "POST",
            "/api/v1/delete",
            admin=True,
            content=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        if response.status_code == 200:
            return int(response.json().get("deleted_count") or 0)
        text = _error_text(response)
        if response.status_code == 403 and "disabled" in text.lower():
            raise ArcDeleteDisabled(f"delete: {text}", 403)
        self._raise_for(response, "delete")
        return 0  # unreachable

    def health(self) -> bool:
        try:
            return self._http.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._http.close()


__all__ = [
    "ArcAmbiguous",
    "ArcAuthError",
    "ArcClient",
    "ArcDeleteDisabled",
    "ArcError",
    "ArcQueryError",
    "ArcRejected",
    "ArcUnavailable",
    "QueryResult",
]
