"""Everything a running server holds: the engine, the key store, the authenticator, metrics, limits.

Store calls block on SQLite, so handlers run them through `ServerState.run`, in a bounded pool of worker
threads, never on the event loop.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from memtrace.client import open_engine
from memtrace.engine import Engine
from memtrace.stores.sqlite import SQLiteDatabase, SQLiteMetadataStore

from .admin import Admin
from .arc_tenancy import route_by_org
from .auth import Authenticator
from .coalesce import SingleWriteCoalescer
from .config import ServerConfig
from .keys import BOOTSTRAP_ORG_ID, KeyStore
from .metrics import Metrics
from .ratelimit import RateLimiter

T = TypeVar("T")


@dataclass
class ServerState:
    config: ServerConfig
    engine: Engine
    keys: KeyStore
    admin: Admin
    metrics: Metrics
    authenticator: Authenticator | None
    rate_limiter: RateLimiter | None
    started_monotonic: float = field(default_factory=time.monotonic)
    coalescer: SingleWriteCoalescer | None = None
    _limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call in a worker thread."""
        if self._limiter is None:
            # Created lazily: an anyio limiter must be made inside the running event loop.
            self._limiter = anyio.CapacityLimiter(self.config.server.worker_threads)
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    def close(self) -> None:
        self.keys.metadata.close()
        self.engine.close()


def open_state(config: ServerConfig) -> ServerState:
    """Open the data directory (creating it on first run) and build the server's state."""
    engine = open_engine(
        config.data_dir,
        org_id=BOOTSTRAP_ORG_ID,
        dedup_enabled=config.dedup.enabled,
        dedup_window_hours=config.dedup.window_hours,
        synchronous=config.store.synchronous.upper(),  # type: ignore[arg-type]
        max_content_length=config.limits.max_content_length,
    )
    engine.events = route_by_org(config, engine.events)  # organisations with their own Arc (arc_tenancy.py)
    # Keys and admin get a connection of their own, so a key lookup never queues behind a large batch write.
    key_db = SQLiteDatabase(config.data_dir, synchronous=config.store.synchronous.upper())  # type: ignore[arg-type]
    keys = KeyStore(SQLiteMetadataStore(key_db), bcrypt_cost=config.auth.bcrypt_cost)
    state = ServerState(
        config=config,
        engine=engine,
        keys=keys,
        admin=Admin(keys, engine.events),
        metrics=Metrics(engine.stats),
        authenticator=None,
        rate_limiter=(
            RateLimiter(config.limits.rate_limit_per_org, config.limits.rate_limit_burst)
            if config.limits.rate_limit_per_org > 0
            else None
        ),
    )
    state.coalescer = SingleWriteCoalescer(state)
    if config.auth.enabled:
        limits = config.limits
        state.authenticator = Authenticator(
            keys,
            run_sync=state.run,
            ttl_seconds=config.auth.cache_ttl_seconds,
            failures_per_address=(
                RateLimiter(
                    limits.auth_failures_per_address,
                    limits.auth_failures_burst,
                    what="failed authentications",
                    per="client address",
                )
                if limits.auth_failures_per_address > 0
                else None
            ),
        )
    return state
