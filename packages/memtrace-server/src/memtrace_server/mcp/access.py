"""Who may use `memtrace mcp --http`: a memtrace API key on every request, and on loopback, the Host and
Origin of a local client.

Any local process (and any web page, through DNS rebinding) can reach a port on loopback, so binding to
127.0.0.1 is not access control. Every HTTP request must carry a memtrace API key as
``Authorization: Bearer mtk_...`` (or ``x-api-key``), read by the REST server's own rule
(`memtrace_server.auth.credential_from_headers`: ambiguous credentials are refused):

- embedded store: a key of the served organisation (``MEMTRACE_ORG_ID``, default ``org_default``) with read
  and write permission, from the key store in the same store (MEMTRACE_STORE_URL or the data directory),
  checked through the REST server's
  `Authenticator` (bcrypt once per key, then cached; a revoked key stops working within
  `REVOCATION_POLL_SECONDS`);
- remote store (``MEMTRACE_URL``): the key the MCP server itself uses, ``MEMTRACE_API_KEY``.

``--insecure-no-auth`` turns the key off, and is refused unless the bind address is a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from memtrace.errors import AuthenticationError, PermissionDeniedError
from memtrace.stores import open_stores

from ..auth import Authenticator, credential_from_headers, require_permission
from ..keys import KeyStore

CheckKey = Callable[[str | None], Awaitable[None]]
REVOCATION_POLL_SECONDS = 2.0


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_security(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection for a loopback bind address: only local Host names and Origins (the bind
    address itself included, e.g. 127.0.0.2, which FastMCP's own list misses). None off loopback."""
    if not is_loopback(host):
        return None
    bound = f"[{host.strip('[]')}]" if ":" in host else host
    names = sorted({"127.0.0.1", "localhost", "[::1]", bound})
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{n}:*" for n in names],
        allowed_origins=[f"http://{n}:*" for n in names],
    )


class KeyGate:
    """ASGI middleware: every HTTP request must present a key `check` accepts, else 401 (or 403)."""

    def __init__(self, app: ASGIApp, check: CheckKey) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                await self.check(credential_from_headers(scope["headers"]))
            except (AuthenticationError, PermissionDeniedError) as exc:
                status = 403 if isinstance(exc, PermissionDeniedError) else 401
                await _refuse(send, status, exc.message)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str) -> None:
    hint = "send a memtrace API key: Authorization: Bearer mtk_..."
    body = json.dumps({"error": message, "hint": hint}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="memtrace"'),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def remote_key_check(api_key: str) -> CheckKey:
    """Accept only `api_key` (the MCP server's own MEMTRACE_API_KEY)."""

    async def check(key: str | None) -> None:
        if not key:
            raise AuthenticationError("missing API key")
        if not hmac.compare_digest(key.encode(), api_key.encode()):
            raise AuthenticationError("invalid API key")

    return check


@contextlib.asynccontextmanager
async def embedded_key_check(location: str | Path, org_id: str) -> AsyncIterator[CheckKey]:
    """Accept keys of `org_id` with read and write permission from the key store at `location` (a data
    directory or store URL, the one the tools' memories are in)."""
    stores = open_stores(location)
    metadata = stores.metadata

    async def run_sync(fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args))

    authenticator = Authenticator(KeyStore(metadata), run_sync=run_sync)
    poll = asyncio.get_running_loop().create_task(authenticator.poll_revocations(REVOCATION_POLL_SECONDS))

    async def check(key: str | None) -> None:
        principal = await authenticator.authenticate(key)
        if principal.org_id != org_id:
            raise PermissionDeniedError(f"this API key belongs to another organization than {org_id}")
        require_permission(principal, "read")
        require_permission(principal, "write")

    try:
        yield check
    finally:
        poll.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll
        stores.close()


def has_keys(location: str | Path, org_id: str) -> bool:
    """Whether `org_id` has any enabled key in the store at `location` (for a start-up hint)."""
    stores = open_stores(location)
    try:
        return any(r.enabled for r in stores.metadata.list_api_keys(org_id))
    finally:
        stores.close()
