"""Request authentication: API key -> `Principal`, with a verified-key cache so warm requests never pay bcrypt.

- The key comes from ``x-api-key`` or ``Authorization: Bearer <key>`` (spec §6.4).
- A cached key is trusted for ``auth.cache_ttl_seconds``. A key revoked through this server is evicted at once;
  one revoked elsewhere (the CLI, another node on the same store) is evicted by the revocation poll within
  ``auth.revocation_poll_seconds``.
- Concurrent first requests with the same cold key share one bcrypt check.
- Failures are cheap to repeat for the caller, not for the server: a malformed key is refused without a lookup,
  a key that failed recently is refused from a cache of recent failures (until the revocation poll sees a new
  key, or `FAILURE_TTL_SECONDS`), and a client address whose failures exceed its budget gets 429 before any
  lookup or bcrypt (``limits.auth_failures_per_address``).

The FastAPI dependencies that use it (`require_read`...) are in `routes.common`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from memtrace.errors import AuthenticationError, PermissionDeniedError
from memtrace.timeparse import now_us

from .fairness import current_org
from .keys import BOOTSTRAP_ORG_ID, KeyStore, Principal, is_well_formed, key_digest
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from .state import ServerState

RunSync = Callable[..., Awaitable[Any]]

ANONYMOUS_ADMIN = Principal(
    org_id=BOOTSTRAP_ORG_ID, permissions=frozenset({"read", "write", "admin"}), key_name="anonymous"
)
"""Who every request is when auth is disabled."""

FAILURE_TTL_SECONDS = 60.0
"""How long a key that failed is refused without a lookup (unless a new key appears sooner)."""
MAX_REMEMBERED_FAILURES = 10_000


class Authenticator:
    """Verifies keys against a `KeyStore`, caching the answers."""

    def __init__(
        self,
        keys: KeyStore,
        *,
        run_sync: RunSync,
        ttl_seconds: float = 300.0,
        failures_per_address: RateLimiter | None = None,
    ) -> None:
        self.keys = keys
        self.ttl = ttl_seconds
        self.failures_per_address = failures_per_address
        self._run_sync = run_sync
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._pending: dict[str, asyncio.Future[Principal | None]] = {}
        self._failures: dict[str, float] = {}
        self._known_ids: set[int] | None = None

    async def authenticate(self, key: str | None, client: str | None = None) -> Principal:
        """The principal for `key`, or `AuthenticationError` (401); `RateLimitedError` (429) when `client` (an
        address) has failed too often lately."""
        digest = key_digest(key) if key else ""
        entry = self._cache.get(digest) if key else None
        if entry is not None:
            principal, cached_at = entry
            if time.monotonic() - cached_at <= self.ttl and (
                principal.expires_us is None or principal.expires_us > now_us()
            ):
                return principal
            self._cache.pop(digest, None)
        limiter = self.failures_per_address if client else None
        if limiter is not None:
            limiter.ensure_available(client)  # type: ignore[arg-type]
        try:
            if not key:
                raise AuthenticationError("missing API key")
            failed_at = self._failures.get(digest)
            if failed_at is not None and time.monotonic() - failed_at <= FAILURE_TTL_SECONDS:
                raise AuthenticationError("invalid API key")
            principal = await self._verify_once(digest, key) if is_well_formed(key) else None
            if principal is None:
                self._remember_failure(digest)
                raise AuthenticationError("invalid API key")
        except AuthenticationError:
            if limiter is not None:
                limiter.charge(client)  # type: ignore[arg-type]
            raise
        self._failures.pop(digest, None)
        return principal

    def _remember_failure(self, digest: str) -> None:
        self._failures.pop(digest, None)
        self._failures[digest] = time.monotonic()
        while len(self._failures) > MAX_REMEMBERED_FAILURES:
            del self._failures[next(iter(self._failures))]  # the oldest

    def forget_failures(self) -> None:
        """A key was created: a key that failed before may be valid now."""
        self._failures.clear()

    async def _verify_once(self, digest: str, key: str) -> Principal | None:
        pending = self._pending.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._pending[digest] = future
        try:
            principal = await self._run_sync(self.keys.verify, key)
            if principal is not None:
                self._cache[digest] = (principal, time.monotonic())
            future.set_result(principal)
            return principal
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            del self._pending[digest]

    def evict(self, *, key_id: int | None = None, org_id: str | None = None) -> None:
        """Forget cached keys by id or by organisation (after a revoke or an org delete)."""
        for digest, (principal, _) in list(self._cache.items()):
            if (key_id is not None and principal.key_id == key_id) or (
                org_id is not None and principal.org_id == org_id
            ):
                self._cache.pop(digest, None)

    def retain(self, enabled_ids: set[int]) -> None:
        """Drop cached keys that are no longer enabled (the revocation poll's result), and forget recent
        failures when a key appeared (created elsewhere, e.g. with the CLI)."""
        if self._known_ids is not None and not enabled_ids <= self._known_ids:
            self.forget_failures()
        self._known_ids = enabled_ids
        for digest, (principal, _) in list(self._cache.items()):
            if principal.key_id is not None and principal.key_id not in enabled_ids:
                self._cache.pop(digest, None)

    async def poll_revocations(self, interval: float) -> None:
        """Run forever: every `interval` seconds, evict keys revoked by anyone. Each tick reads the store's
        keys version; the key table is read only when that changed."""
        seen: int | None = None
        while True:
            await asyncio.sleep(interval)
            if not self._cache and not self._failures:
                continue
            try:
                version = await self._run_sync(self.keys.version)
                if version == seen:
                    continue
                enabled = await self._run_sync(self.keys.enabled_ids)
            except Exception:  # the store may be busy or closing; try again next tick
                continue
            self.retain(enabled)
            seen = version


PRINCIPAL_SCOPE_KEY = "memtrace.principal"
"""Where `ServerMiddleware` leaves the authenticated caller in the ASGI scope for the routes."""


async def authenticate_request(
    state: ServerState, headers: Iterable[tuple[bytes, bytes]], client: str | None = None
) -> Principal:
    """The caller of a request, from its raw headers, before its body is read; charges the org's rate limit.

    Every ``/api/`` request goes through here once, in `ServerMiddleware` (the fast path included), so
    credentials are read by one rule everywhere; routes only check permissions (`require_permission`).
    """
    return await authenticate_key(state, credential_from_headers(headers), client)


async def authenticate_key(state: ServerState, key: str | None, client: str | None = None) -> Principal:
    """The caller presenting `key` (as `authenticate_request`, for a key that did not come in headers: the
    dashboard's session); charges the org's rate limit, and from here on the request's store calls count
    against its organisation (`fairness.current_org`)."""
    if state.authenticator is None:
        principal = ANONYMOUS_ADMIN
    else:
        principal = await state.authenticator.authenticate(key, client)
    if state.rate_limiter is not None:
        state.rate_limiter.check(principal.org_id)
    current_org.set(principal.org_id)
    return principal


def require_permission(principal: Principal, permission: str) -> Principal:
    """`principal`, if it holds `permission`; else `PermissionDeniedError` (403)."""
    if not principal.allows(permission):
        raise PermissionDeniedError(f"this API key lacks the '{permission}' permission")
    return principal


def credential_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The API key a request presents: ``x-api-key``, or ``Authorization: Bearer <key>`` (a raw value without
    the scheme is accepted, as the original did). Both may be sent if they name the same key.

    Ambiguous credentials are refused with 401 rather than resolved: two ``x-api-key`` headers, two
    ``Authorization`` headers, or the two forms naming different keys. Picking one (the first, the last) is how
    a proxy and the server end up disagreeing about who is calling.
    """
    api_keys: list[bytes] = []
    authorizations: list[bytes] = []
    for name, value in headers:
        if name == b"x-api-key":
            api_keys.append(value)
        elif name == b"authorization":
            authorizations.append(value)
    if len(api_keys) > 1 or len(authorizations) > 1:
        header = "x-api-key" if len(api_keys) > 1 else "Authorization"
        raise AuthenticationError(
            f"ambiguous credentials: more than one {header} header; send exactly one key"
        )
    api_key = api_keys[0].decode("latin-1").strip() if api_keys else ""
    bearer = ""
    if authorizations:
        value = authorizations[0].decode("latin-1").strip()
        bearer = value[7:].strip() if value[:7].lower() == "bearer " else value
    if api_key and bearer and api_key != bearer:
        raise AuthenticationError(
            "ambiguous credentials: x-api-key and Authorization name different keys; send one key"
        )
    return api_key or bearer or None
