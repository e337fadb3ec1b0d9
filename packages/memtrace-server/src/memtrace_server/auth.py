"""Request authentication: API key -> `Principal`, with a verified-key cache so warm requests never pay bcrypt.

- The key comes from ``x-api-key`` or ``Authorization: Bearer <key>`` (spec §6.4).
- A cached key is trusted for ``auth.cache_ttl_seconds``. A key revoked through this server is evicted at once;
  one revoked elsewhere (the CLI, another node on the same store) is evicted by the revocation poll within
  ``auth.revocation_poll_seconds``.
- Concurrent first requests with the same cold key share one bcrypt check.

The FastAPI dependencies that use it (`require_read`...) are in `routes.common`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from memtrace.errors import AuthenticationError, PermissionDeniedError
from memtrace.timeparse import now_us

from .keys import BOOTSTRAP_ORG_ID, KeyStore, Principal, key_digest

if TYPE_CHECKING:
    from .state import ServerState

RunSync = Callable[..., Awaitable[Any]]

ANONYMOUS_ADMIN = Principal(
    org_id=BOOTSTRAP_ORG_ID, permissions=frozenset({"read", "write", "admin"}), key_name="anonymous"
)
"""Who every request is when auth is disabled."""


class Authenticator:
    """Verifies keys against a `KeyStore`, caching the answers."""

    def __init__(self, keys: KeyStore, *, run_sync: RunSync, ttl_seconds: float = 300.0) -> None:
        self.keys = keys
        self.ttl = ttl_seconds
        self._run_sync = run_sync
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._pending: dict[str, asyncio.Future[Principal | None]] = {}

    async def authenticate(self, key: str | None) -> Principal:
        """The principal for `key`, or `AuthenticationError` (401)."""
        if not key:
            raise AuthenticationError("missing API key")
        digest = key_digest(key)
        entry = self._cache.get(digest)
        if entry is not None:
            principal, cached_at = entry
            if time.monotonic() - cached_at <= self.ttl and (
                principal.expires_us is None or principal.expires_us > now_us()
            ):
                return principal
            self._cache.pop(digest, None)
        principal = await self._verify_once(digest, key)
        if principal is None:
            raise AuthenticationError("invalid API key")
        return principal

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
        """Drop cached keys that are no longer enabled (the revocation poll's result)."""
        for digest, (principal, _) in list(self._cache.items()):
            if principal.key_id is not None and principal.key_id not in enabled_ids:
                self._cache.pop(digest, None)

    async def poll_revocations(self, interval: float) -> None:
        """Run forever: every `interval` seconds, evict keys revoked by anyone. Each tick reads the store's
        keys version; the key table is read only when that changed."""
        seen: int | None = None
        while True:
            await asyncio.sleep(interval)
            if not self._cache:
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


async def authorize(
    state: ServerState, api_key: str | None, authorization: str | None, permission: str
) -> Principal:
    """The caller of a request, which must hold `permission` (else 403); charges the org's rate limit."""
    if state.authenticator is None:
        principal = ANONYMOUS_ADMIN
    else:
        principal = await state.authenticator.authenticate(key_from_headers(api_key, authorization))
    if state.rate_limiter is not None:
        state.rate_limiter.check(principal.org_id)
    if not principal.allows(permission):
        raise PermissionDeniedError(f"this API key lacks the '{permission}' permission")
    return principal


def key_from_headers(api_key: str | None, authorization: str | None) -> str | None:
    """``x-api-key`` wins; else ``Authorization: Bearer <key>`` (a raw value without the scheme is accepted,
    as the original did)."""
    if api_key:
        return api_key.strip()
    if authorization:
        value = authorization.strip()
        if value[:7].lower() == "bearer ":
            return value[7:].strip()
        return value
    return None
