"""Fair admission to the worker threads: one organisation's store calls may hold at most `per_org` of them.

Store calls run in a bounded pool of threads (`ServerState.run`). Without a per-organisation bound, one tenant
running a few expensive searches takes every thread, and another tenant's cheap ``GET /memories?limit=10``
waits behind them. With it, a tenant past its share waits for its own calls to finish, and the threads it
leaves free serve everyone else at once.

The caller's organisation is known to `ServerState.run` through `current_org`, set by `ServerMiddleware` once
the request is authenticated (a context variable: each request runs in its own task, and the tasks a request
starts, such as a group-commit drain, inherit it). Calls made outside a request (key lookups, metrics) are
not counted against anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator

current_org: contextvars.ContextVar[str | None] = contextvars.ContextVar("memtrace_current_org", default=None)


class OrgSlots:
    """At most `per_org` concurrent holders per organisation; an idle organisation costs no memory."""

    def __init__(self, per_org: int) -> None:
        if per_org < 1:
            raise ValueError("per_org must be at least 1")
        self.per_org = per_org
        self._orgs: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, org_id: str) -> AsyncIterator[None]:
        entry = self._orgs.get(org_id)
        if entry is None:
            entry = self._orgs[org_id] = (asyncio.Semaphore(self.per_org), [0])
        semaphore, users = entry
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._orgs[org_id]
