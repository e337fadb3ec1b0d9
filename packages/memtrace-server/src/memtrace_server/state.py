"""Everything a running server holds: the engine, the key store, the authenticator, metrics, limits.

The stores come from `memtrace.stores.open_stores` (``store.url``, default the data directory); the Arc routing
goes in front of their event store before the engine is built, and from then on the server talks to the engine
(memories, orgs, readiness, figures) and to the metadata store's key methods (`KeyStore`), never to a store class.

Store calls block, so handlers run them through `ServerState.run`, in a bounded pool of worker threads, never on
the event loop.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from memtrace.engine import Engine, EngineConfig
from memtrace.errors import MemtraceError, ValidationError
from memtrace.limits import InputLimits
from memtrace.stores import StoreBundle, open_stores
from memtrace.timeparse import now_us

from .admin import Admin
from .arc import OrgArcStores, route_by_org
from .auth import Authenticator
from .coalesce import SingleWriteCoalescer
from .config import ConfigError, ServerConfig
from .fairness import OrgSlots, current_org
from .keys import BOOTSTRAP_ORG_ID, BOOTSTRAP_ORG_NAME, KeyStore
from .leadership import LeaderCollector, Leadership, postgres_url_of
from .metrics import Metrics
from .ratelimit import RateLimiter
from .retention import apply_configured_policy, schedule_sweeps

T = TypeVar("T")

POSTGRES_CHECKOUT_TIMEOUT_SECONDS = 5.0
"""How long a request waits for a PostgreSQL connection before it is answered 503 with Retry-After."""


@dataclass
class ServerState:
    config: ServerConfig
    engine: Engine
    keys: KeyStore
    admin: Admin
    arc: OrgArcStores
    metrics: Metrics
    authenticator: Authenticator | None
    rate_limiter: RateLimiter | None
    started_monotonic: float = field(default_factory=time.monotonic)
    coalescer: SingleWriteCoalescer | None = None
    leadership: Leadership | None = None
    """Background work on one replica at a time (leadership.py); started by the app's lifespan."""
    _limiter: anyio.CapacityLimiter | None = None
    _org_slots: OrgSlots | None = None

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call in a worker thread; within a request, at most
        ``limits.max_concurrent_per_org`` of the caller's organisation at once (see `fairness`)."""
        if self._limiter is None or self._org_slots is None:
            # Created lazily: an anyio limiter must be made inside the running event loop.
            self._limiter = anyio.CapacityLimiter(self.config.server.worker_threads)
            self._org_slots = OrgSlots(
                self.config.limits.concurrent_calls_per_org(self.config.server.worker_threads)
            )
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        org_id = current_org.get()
        if org_id is None:
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)
        async with self._org_slots.slot(org_id):
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    def close(self) -> None:
        self.engine.close()


def open_stores_of(config: ServerConfig) -> StoreBundle:
    """The stores ``store.url`` names (default: the data directory, created on first run). A URL that cannot be
    opened is a configuration error naming ``store.url``."""
    postgres: dict[str, Any] = {}
    if postgres_url_of(config.store.url) is not None:
        postgres = {
            # One connection per worker thread: a store call never waits for another's connection, so a
            # checkout that waits means the database is away; answer 503 soon rather than hold the request.
            "max_size": config.server.worker_threads,
            "checkout_timeout": POSTGRES_CHECKOUT_TIMEOUT_SECONDS,
        }
    try:
        return open_stores(
            config.store.url or str(config.data_dir),
            setting="store.url",
            synchronous=config.store.sqlite_synchronous,
            # Metadata on a connection of its own, so a key lookup never queues behind a large batch write.
            separate_metadata_connection=True,
            query_budget_s=config.limits.query_time_budget_seconds,
            **postgres,
        )
    except ValidationError as exc:
        raise ConfigError(exc.message) from None
    except MemtraceError as exc:  # unreachable database, refused login, schema newer than this code
        if not postgres:
            raise  # the embedded store's refusals have their own one-line messages
        raise ConfigError(store_url_problem(exc)) from None


def store_url_problem(exc: MemtraceError) -> str:
    """`exc` as one line naming the setting, for the start-up error (drivers' messages span lines)."""
    return "store.url (--store-url / MEMTRACE_STORE_URL): " + " ".join(exc.message.split())


def prune_audit(state: ServerState) -> int:
    """Delete the audit entries older than ``audit.retention_days`` (a leader job; see `memtrace.audit`)."""
    keep_us = int(state.config.audit.retention_days * 86_400_000_000)
    return state.engine.audit.prune(now_us() - keep_us)


def open_state(config: ServerConfig) -> ServerState:
    """Open the stores and build the server's state."""
    stores = open_stores_of(config)
    try:
        routed, arc = route_by_org(config, stores)  # organisations with their own Arc (arc/)
    except BaseException:
        stores.close()
        raise
    engine = Engine.from_stores(
        routed,
        EngineConfig(
            dedup_enabled=config.dedup.enabled,
            dedup_window_hours=config.dedup.window_hours,
            max_content_length=config.limits.max_content_length,
            limits=InputLimits(
                max_filter_tags=config.limits.max_filter_tags,
                max_filter_types=config.limits.max_filter_types,
                max_metadata_bytes=config.limits.max_metadata_bytes,
                max_metadata_depth=config.limits.max_metadata_depth,
            ),
        ),
    )
    try:
        engine.ensure_org(BOOTSTRAP_ORG_ID, BOOTSTRAP_ORG_NAME)
        apply_configured_policy(engine, config)
    except BaseException:
        engine.close()
        raise
    keys = KeyStore(routed.metadata, bcrypt_cost=config.auth.bcrypt_cost)
    state = ServerState(
        config=config,
        engine=engine,
        keys=keys,
        admin=Admin(engine),
        arc=arc,
        metrics=Metrics(engine.stats),
        authenticator=None,
        rate_limiter=(
            RateLimiter(config.limits.rate_limit_per_org, config.limits.rate_limit_burst)
            if config.limits.rate_limit_per_org > 0
            else None
        ),
    )
    state.coalescer = SingleWriteCoalescer(state)
    state.leadership = Leadership(postgres_url_of(config.store.url))
    if config.audit.retention_days > 0:
        state.leadership.add_job(
            "audit-retention", config.audit.prune_interval_seconds, functools.partial(prune_audit, state)
        )
    schedule_sweeps(engine, config, state.leadership)
    state.metrics.registry.register(LeaderCollector(state.leadership))
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
