"""Arc per organisation on the server: which organisation's memories live in which Arc, and the routing.

- `ArcInstanceStore`: the ``arc_instances`` table (in ``<data_dir>/arc.db``), one row per organisation, as the
  original kept it (spec §2.5): url, database, measurement, and the Arc token encrypted at rest with AES-256-GCM
  under ``MEMTRACE_MASTER_KEY`` (base64 of 32 bytes; random 12-byte nonce; no associated data; spec §6.10).
- A server-wide default Arc from ``[arc]`` in memtrace.toml (or ``MEMTRACE_ARC_*``): organisations without an
  Arc of their own use it; without it they use the embedded SQLite store, as before.
- `OrgRoutedEventStore`: the server engine's event store. Every call carries `org_id`, so each goes to that
  organisation's `ArcEventStore` (opened on first use; spool in ``<data_dir>/arc/<org_id>/``), or to the
  default. Changes made by another process (``memtrace org add-arc`` while serving) are picked up within
  `REFRESH_SECONDS`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import sqlite3
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memtrace.errors import ServiceUnavailableError, ValidationError
from memtrace.ids import new_entity_id
from memtrace.records import MemoryFilter, MemoryRecord
from memtrace.stores.arc.config import ArcConfig
from memtrace.stores.base import EventStore, Order, StoreStats
from memtrace.timeparse import now_us

from .config import ConfigError, ServerConfig

if TYPE_CHECKING:
    from memtrace.stores.arc.store import ArcEventStore

log = logging.getLogger("memtrace_server.arc")

MASTER_KEY_ENV = "MEMTRACE_MASTER_KEY"
INSTANCES_FILENAME = "arc.db"
SPOOL_DIRNAME = "arc"
DEFAULT_SPOOL = "_default"
REFRESH_SECONDS = 2.0

# `[arc]` keys: the original's names (spec §7) and ours. Connection keys make a server-wide default Arc; the
# tuning keys apply to every organisation's Arc.
_CONNECTION_KEYS = {"url", "token", "api_key", "admin_token", "database", "measurement"}
_TUNING_KEYS = {
    "connect_timeout": "connect_timeout",
    "query_timeout": "timeout",
    "write_batch_size": "batch_size",
    "write_flush_interval_ms": "flush_interval",
    "max_spool_rows": "max_spool_rows",
    "visibility_timeout": "visibility_timeout",
    "dedup_checks_arc": "dedup_checks_arc",
}


# ------------------------------------------------------------------------------------------- master key


class MasterKey:
    """AES-256-GCM under the server's master key."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != 32:
            raise ConfigError(f"{MASTER_KEY_ENV} must be the base64 of 32 bytes (it decodes to {len(key)})")
        self._aead = AESGCM(key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MasterKey | None:
        value = (os.environ if env is None else env).get(MASTER_KEY_ENV)
        if not value:
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{MASTER_KEY_ENV} is not valid base64") from None
        return cls(raw)

    def encrypt(self, plaintext: str) -> tuple[bytes, bytes]:
        """(ciphertext with its tag, nonce)."""
        nonce = os.urandom(12)
        return self._aead.encrypt(nonce, plaintext.encode(), None), nonce

    def decrypt(self, ciphertext: bytes, nonce: bytes) -> str:
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(nonce, ciphertext, None).decode()
        except InvalidTag:
            raise ConfigError(f"{MASTER_KEY_ENV} is not the key the Arc tokens were encrypted with") from None


def require_master_key(master: MasterKey | None) -> MasterKey:
    if master is None:
        raise ServiceUnavailableError(
            f"{MASTER_KEY_ENV} is not set: the server needs it to store and use Arc tokens "
            "(base64 of 32 random bytes, e.g. `openssl rand -base64 32`)",
            retry_after=None,
        )
    return master


# ------------------------------------------------------------------------------------- instance table


@dataclass(frozen=True)
class ArcInstance:
    """An organisation's Arc. The tokens stay encrypted until a store is opened."""

    id: str
    org_id: str
    url: str
    database: str
    measurement: str
    token_cipher: bytes
    token_nonce: bytes
    admin_cipher: bytes | None
    admin_nonce: bytes | None
    created_us: int
    updated_us: int

    def public(self) -> dict[str, Any]:
        """What may be shown: never a token."""
        return {
            "id": self.id,
            "org_id": self.org_id,
            "url": self.url,
            "database": self.database,
            "measurement": self.measurement,
            "admin_token": self.admin_cipher is not None,
            "created_us": self.created_us,
            "updated_us": self.updated_us,
        }


_INSTANCE_COLUMNS = (
    "id, org_id, url, database, measurement, api_key_cipher, api_key_nonce, admin_key_cipher, admin_key_nonce, "
    "created_us, updated_us"
)


class ArcInstanceStore:
    """``<data_dir>/arc.db``. Thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            data_dir / INSTANCES_FILENAME, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            """CREATE TABLE IF NOT EXISTS arc_instances (
                id TEXT PRIMARY KEY,
                org_id TEXT NOT NULL UNIQUE,
                url TEXT NOT NULL,
                database TEXT NOT NULL,
                measurement TEXT NOT NULL DEFAULT 'events',
                api_key_cipher BLOB NOT NULL,
                api_key_nonce BLOB NOT NULL,
                admin_key_cipher BLOB,
                admin_key_nonce BLOB,
                created_us INTEGER NOT NULL,
                updated_us INTEGER NOT NULL
            )"""
        )

    def put(
        self,
        master: MasterKey,
        org_id: str,
        *,
        url: str,
        token: str,
        database: str,
        measurement: str,
        admin_token: str | None,
    ) -> ArcInstance:
        """Set the organisation's Arc (replacing any). Validates the settings before storing them."""
        if not isinstance(token, str) or not token:
            raise ValidationError("token is required", "token")
        ArcConfig(
            url=url, token=token, database=database, measurement=measurement
        )  # validates, names the field
        cipher, nonce = master.encrypt(token)
        admin = master.encrypt(admin_token) if admin_token else (None, None)
        now = now_us()
        with self._lock:
            existing = self._conn.execute(
                "SELECT id, created_us FROM arc_instances WHERE org_id = ?", (org_id,)
            ).fetchone()
            instance_id, created = existing if existing else (new_entity_id("arc"), now)
            self._conn.execute(
                f"INSERT OR REPLACE INTO arc_instances ({_INSTANCE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (instance_id, org_id, url, database, measurement, cipher, nonce, *admin, created, now),
            )
        instance = self.get(org_id)
        assert instance is not None
        return instance

    def get(self, org_id: str) -> ArcInstance | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM arc_instances WHERE org_id = ?", (org_id,)
            ).fetchone()
        return _instance(row) if row else None

    def list(self) -> list[ArcInstance]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM arc_instances ORDER BY org_id"
            ).fetchall()
        return [_instance(r) for r in rows]

    def remove(self, org_id: str) -> bool:
        with self._lock:
            return self._conn.execute("DELETE FROM arc_instances WHERE org_id = ?", (org_id,)).rowcount > 0

    def version(self) -> tuple[int, int]:
        """Changes whenever a row is added, changed or removed (cheap to poll)."""
        with self._lock:
            n, newest = self._conn.execute(
                "SELECT count(*), COALESCE(max(updated_us), 0) FROM arc_instances"
            ).fetchone()
        return int(n), int(newest)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _instance(row: tuple[Any, ...]) -> ArcInstance:
    return ArcInstance(
        id=row[0],
        org_id=row[1],
        url=row[2],
        database=row[3],
        measurement=row[4],
        token_cipher=row[5],
        token_nonce=row[6],
        admin_cipher=row[7],
        admin_nonce=row[8],
        created_us=row[9],
        updated_us=row[10],
    )


# --------------------------------------------------------------------------------- server-wide [arc]


@dataclass(frozen=True)
class ArcDefaults:
    """What ``[arc]`` says: tuning for every Arc store, and optionally a server-wide default Arc."""

    tuning: dict[str, Any]
    default: ArcConfig | None


def read_arc_section(config: ServerConfig, env: Mapping[str, str] | None = None) -> ArcDefaults:
    """``[arc]`` of the configuration file, then ``MEMTRACE_ARC_<KEY>`` variables (the server's config loader
    accepts and ignores this section; its keys are checked here)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if config.source:
        data = tomllib.loads(Path(config.source).read_text(encoding="utf-8")).get("arc") or {}
        for key, value in data.items():
            if key not in _CONNECTION_KEYS and key not in _TUNING_KEYS:
                raise ConfigError(f"{config.source}: unknown key 'arc.{key}'")
            values[key] = value
    for key in (*_CONNECTION_KEYS, *_TUNING_KEYS):
        name = f"MEMTRACE_ARC_{key.upper()}"
        if env.get(name):
            values[key] = env[name]
    tuning: dict[str, Any] = {}
    kinds = {f.name: f.type for f in fields(ArcConfig)}
    for key, target in _TUNING_KEYS.items():
        if key not in values:
            continue
        raw = values[key]
        try:
            if kinds[target] in (bool, "bool"):
                value: Any = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
            elif kinds[target] in (int, "int"):
                value = int(raw)
            else:
                value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"arc.{key}: expected a number, got {raw!r}") from None
        if key == "write_flush_interval_ms":
            value = value / 1000
        tuning[target] = value
    default = None
    if values.get("url"):
        token = values.get("token") or values.get("api_key")
        try:
            default = ArcConfig(
                url=str(values["url"]),
                token=str(token) if token else None,
                admin_token=str(values["admin_token"]) if values.get("admin_token") else None,
                database=str(values.get("database") or "memory"),
                measurement=str(values.get("measurement") or "events"),
                **tuning,
            )
        except ValidationError as exc:
            raise ConfigError(f"arc.{exc.field}: {exc.message}") from None
    return ArcDefaults(tuning, default)


# ------------------------------------------------------------------------------------------ routing


class OrgArcStores:
    """Which store holds an organisation's memories; opens and closes Arc stores as the table changes."""

    def __init__(
        self,
        data_dir: Path,
        fallback: EventStore,
        instances: ArcInstanceStore,
        master: MasterKey | None,
        defaults: ArcDefaults,
        *,
        synchronous: str = "FULL",
    ) -> None:
        self.data_dir = data_dir
        self.fallback = fallback
        self.instances = instances
        self.master = master
        self.defaults = defaults
        self.synchronous = synchronous
        self._lock = threading.RLock()
        self._stores: dict[str, tuple[int, ArcEventStore]] = {}
        self._configured: dict[str, ArcInstance] = {}
        self._default_store: ArcEventStore | None = None
        self._version: tuple[int, int] | None = None
        self._checked = 0.0
        self.refresh(force=True)
        if self._configured and master is None:
            raise ConfigError(
                f"{MASTER_KEY_ENV} is not set, but {len(self._configured)} organization(s) keep their memories "
                "in Arc with an encrypted token: set it to the key used when they were added"
            )

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the instance table if it changed (at most every REFRESH_SECONDS unless forced)."""
        now = time.monotonic()
        if not force and now - self._checked < REFRESH_SECONDS:
            return
        self._checked = now
        version = self.instances.version()
        if version == self._version and not force:
            return
        with self._lock:
            self._version = version
            configured = {i.org_id: i for i in self.instances.list()}
            for org_id, (updated, store) in list(self._stores.items()):
                current = configured.get(org_id)
                if current is None or current.updated_us != updated:
                    del self._stores[org_id]
                    store.close()
            self._configured = configured

    def store_for(self, org_id: str) -> EventStore:
        self.refresh()
        cached = self._stores.get(org_id)
        if cached is not None:
            return cached[1]
        instance = self._configured.get(org_id)
        if instance is None:
            return self._default() or self.fallback
        with self._lock:
            cached = self._stores.get(org_id)
            if cached is None:
                cached = (instance.updated_us, self._open(instance))
                self._stores[org_id] = cached
            return cached[1]

    def _open(self, instance: ArcInstance) -> ArcEventStore:
        from memtrace.stores.arc.store import ArcEventStore  # its HTTP client loads only when an org uses Arc

        master = require_master_key(self.master)
        admin = (
            master.decrypt(instance.admin_cipher, instance.admin_nonce)
            if instance.admin_cipher is not None and instance.admin_nonce is not None
            else None
        )
        config = ArcConfig(
            url=instance.url,
            token=master.decrypt(instance.token_cipher, instance.token_nonce),
            admin_token=admin,
            database=instance.database,
            measurement=instance.measurement,
            **self.defaults.tuning,
        )
        log.info("org %s: memories in %s", instance.org_id, config.redacted())
        return ArcEventStore(
            config,
            self.data_dir / SPOOL_DIRNAME / instance.org_id,
            synchronous=self.synchronous,  # type: ignore[arg-type]
        )

    def _default(self) -> ArcEventStore | None:
        if self.defaults.default is None:
            return None
        if self._default_store is None:
            from memtrace.stores.arc.store import ArcEventStore

            with self._lock:
                if self._default_store is None:
                    log.info(
                        "memories of organizations without an Arc of their own: %s",
                        self.defaults.default.redacted(),
                    )
                    self._default_store = ArcEventStore(
                        self.defaults.default,
                        self.data_dir / SPOOL_DIRNAME / DEFAULT_SPOOL,
                        synchronous=self.synchronous,  # type: ignore[arg-type]
                    )
        return self._default_store

    def status(self) -> dict[str, dict[str, Any]]:
        """Each open Arc store's spool and health, by organisation (``*`` for the server-wide default)."""
        with self._lock:
            out = {org_id: store.status() for org_id, (_, store) in self._stores.items()}
            if self._default_store is not None:
                out["*"] = self._default_store.status()
        return out

    def close(self) -> None:
        with self._lock:
            for _, store in self._stores.values():
                store.close()
            self._stores.clear()
            if self._default_store is not None:
                self._default_store.close()
                self._default_store = None
        self.instances.close()


class OrgRoutedEventStore:
    """An `EventStore` that sends each call to the organisation's own store."""

    def __init__(self, stores: OrgArcStores) -> None:
        self.stores = stores

    def append(self, org_id: str, records: list[MemoryRecord], *, dedup_since_us: int | None) -> list[int]:
        return self.stores.store_for(org_id).append(org_id, records, dedup_since_us=dedup_since_us)

    def query(
        self, org_id: str, flt: MemoryFilter, *, order: Order, limit: int, offset: int
    ) -> list[MemoryRecord]:
        return self.stores.store_for(org_id).query(org_id, flt, order=order, limit=limit, offset=offset)

    def search(
        self, org_id: str, flt: MemoryFilter, text: str, *, limit: int, offset: int
    ) -> list[MemoryRecord]:
        return self.stores.store_for(org_id).search(org_id, flt, text, limit=limit, offset=offset)

    def get(self, org_id: str, memory_id: str) -> MemoryRecord | None:
        return self.stores.store_for(org_id).get(org_id, memory_id)

    def delete(self, org_id: str, flt: MemoryFilter) -> int:
        return self.stores.store_for(org_id).delete(org_id, flt)

    def count(self, org_id: str, flt: MemoryFilter) -> int:
        return self.stores.store_for(org_id).count(org_id, flt)

    def count_by_type(self, org_id: str, flt: MemoryFilter) -> dict[str, int]:
        return self.stores.store_for(org_id).count_by_type(org_id, flt)

    def stats(self) -> StoreStats:
        """The embedded store's figures (for the server's store gauges)."""
        return self.stores.fallback.stats()

    def close(self) -> None:
        self.stores.close()
        self.stores.fallback.close()


def route_by_org(
    config: ServerConfig, events: EventStore, env: Mapping[str, str] | None = None
) -> EventStore:
    """The server's event store: `events` (the embedded store) behind per-organisation Arc routing."""
    stores = OrgArcStores(
        config.data_dir,
        events,
        ArcInstanceStore(config.data_dir),
        MasterKey.from_env(env),
        read_arc_section(config, env),
        synchronous=config.store.synchronous.upper(),
    )
    return OrgRoutedEventStore(stores)


def arc_stores(events: EventStore) -> OrgArcStores:
    """The routing behind the server engine's event store."""
    if not isinstance(events, OrgRoutedEventStore):
        raise TypeError("the server's event store is not routed by organization")
    return events.stores


__all__ = [
    "MASTER_KEY_ENV",
    "ArcDefaults",
    "ArcInstance",
    "ArcInstanceStore",
    "MasterKey",
    "OrgArcStores",
    "OrgRoutedEventStore",
    "arc_stores",
    "read_arc_section",
    "route_by_org",
]
