"""Which store holds an organisation's memories: its own Arc, the server-wide default Arc, or the main store.

`OrgRoutedEventStore` is the server engine's event store. Every call carries `org_id`, so each goes to that
organisation's `ArcEventStore` (opened on first use; spool in ``<data_dir>/arc/<org_id>/``), or to the default.
Changes made by another process (``memtrace org add-arc`` while serving, another replica) are picked up within
`REFRESH_SECONDS`, by polling the metadata store's cheap `arc_instances_version`.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from memtrace.records import MemoryFilter, MemoryRecord
from memtrace.stores.arc.config import ArcConfig
from memtrace.stores.base import ArcInstanceRow, EventStore, MetadataStore, Order, StoreStats
from memtrace.stores.composition import open_arc_event_store

from ..config import ConfigError
from .master_key import MASTER_KEY_ENV, MasterKey, require_master_key
from .settings import ArcDefaults

if TYPE_CHECKING:
    from memtrace.stores.arc.store import ArcEventStore

log = logging.getLogger("memtrace_server.arc")

SPOOL_DIRNAME = "arc"
DEFAULT_SPOOL = "_default"
REFRESH_SECONDS = 2.0


class OrgArcStores:
    """Opens and closes organisations' Arc stores as their settings change; answers which store an org uses."""

    def __init__(
        self,
        data_dir: Path,
        fallback: EventStore,
        metadata: MetadataStore,
        master: MasterKey | None,
        defaults: ArcDefaults,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        self.data_dir = data_dir
        self.fallback = fallback
        self.metadata = metadata
        self.master = master
        self.defaults = defaults
        self.synchronous: Literal["FULL", "NORMAL"] = synchronous
        self._lock = threading.RLock()
        self._stores: dict[str, tuple[int, ArcEventStore]] = {}
        self._configured: dict[str, ArcInstanceRow] = {}
        self._default_store: ArcEventStore | None = None
        self._version: int | None = None
        self._checked = 0.0
        self.refresh(force=True)
        if self._configured and master is None:
            raise ConfigError(
                f"{MASTER_KEY_ENV} is not set, but {len(self._configured)} organization(s) keep their memories "
                "in Arc with an encrypted token: set it to the key used when they were added"
            )

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the instances if they changed (checked at most every REFRESH_SECONDS unless forced)."""
        now = time.monotonic()
        if not force and now - self._checked < REFRESH_SECONDS:
            return
        self._checked = now
        version = self.metadata.arc_instances_version()
        if version == self._version and not force:
            return
        with self._lock:
            self._version = version
            configured = {i.org_id: i for i in self.metadata.list_arc_instances()}
            for org_id, (updated, store) in list(self._stores.items()):
                current = configured.get(org_id)
                if current is None or current.updated_us != updated:
                    del self._stores[org_id]
                    store.close()
            self._configured = configured

    def discard_spool(self, org_id: str) -> bool:
        """Remove the spool directory of an organisation that no longer has an Arc of its own (deleted, or its
        Arc removed after its memories were deleted): its file would keep free pages of what it held. True if
        there was one. An organisation still configured keeps its spool."""
        self.refresh(force=True)
        with self._lock:
            if org_id in self._configured or org_id in self._stores:
                return False
            spool = self.data_dir / SPOOL_DIRNAME / org_id
            if org_id in ("", ".", "..", DEFAULT_SPOOL) or not spool.is_dir():
                return False
            shutil.rmtree(spool)
            return True

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

    def _open(self, instance: ArcInstanceRow) -> ArcEventStore:
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
        return open_arc_event_store(
            config, self.data_dir / SPOOL_DIRNAME / instance.org_id, synchronous=self.synchronous
        )

    def _default(self) -> ArcEventStore | None:
        if self.defaults.default is None:
            return None
        if self._default_store is None:
            with self._lock:
                if self._default_store is None:
                    log.info(
                        "memories of organizations without an Arc of their own: %s",
                        self.defaults.default.redacted(),
                    )
                    self._default_store = open_arc_event_store(
                        self.defaults.default,
                        self.data_dir / SPOOL_DIRNAME / DEFAULT_SPOOL,
                        synchronous=self.synchronous,
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
        """Close the Arc stores (not the fallback: whoever opened it closes it)."""
        with self._lock:
            for _, store in self._stores.values():
                store.close()
            self._stores.clear()
            if self._default_store is not None:
                self._default_store.close()
                self._default_store = None


class OrgRoutedEventStore:
    """An `EventStore` that sends each call to the organisation's own store."""

    def __init__(self, stores: OrgArcStores) -> None:
        self.stores = stores

    def append(self, org_id: str, records: list[MemoryRecord], *, dedup_since_us: int | None) -> list[int]:
        return self.stores.store_for(org_id).append(org_id, records, dedup_since_us=dedup_since_us)

    def import_records(
        self, org_id: str, records: list[MemoryRecord], *, dedup_horizon_us: int | None = None
    ) -> tuple[int, int]:
        return self.stores.store_for(org_id).import_records(
            org_id, records, dedup_horizon_us=dedup_horizon_us
        )

    def query(
        self,
        org_id: str,
        flt: MemoryFilter,
        *,
        order: Order,
        limit: int,
        offset: int,
        brief: bool = False,
    ) -> list[MemoryRecord]:
        return self.stores.store_for(org_id).query(
            org_id, flt, order=order, limit=limit, offset=offset, brief=brief
        )

    def search(
        self, org_id: str, flt: MemoryFilter, text: str, *, limit: int, offset: int
    ) -> list[MemoryRecord]:
        return self.stores.store_for(org_id).search(org_id, flt, text, limit=limit, offset=offset)

    def get(self, org_id: str, memory_id: str) -> MemoryRecord | None:
        return self.stores.store_for(org_id).get(org_id, memory_id)

    # Memories an organisation stored before it moved to an Arc of its own stay in the main store: no read reaches
    # them (reads go to its Arc), but they are kept. Deletes reach them too, so that a forget or an organisation's
    # deletion leaves nothing of the subject behind, and a later organisation with the same id starts empty.

    def delete(self, org_id: str, flt: MemoryFilter) -> int:
        store = self.stores.store_for(org_id)
        deleted = store.delete(org_id, flt)
        if store is not self.stores.fallback:
            deleted += self.stores.fallback.delete(org_id, flt)
        return deleted

    def delete_batch(self, org_id: str, flt: MemoryFilter, *, limit: int) -> int:
        store = self.stores.store_for(org_id)
        deleted = store.delete_batch(org_id, flt, limit=limit)
        if deleted < limit and store is not self.stores.fallback:
            deleted += self.stores.fallback.delete_batch(org_id, flt, limit=limit - deleted)
        return deleted

    def count(self, org_id: str, flt: MemoryFilter) -> int:
        return self.stores.store_for(org_id).count(org_id, flt)

    def count_by_type(self, org_id: str, flt: MemoryFilter) -> dict[str, int]:
        return self.stores.store_for(org_id).count_by_type(org_id, flt)

    def stats(self) -> StoreStats:
        """The main store's figures (for the server's store gauges; Arc's spools report in /api/v1/arc)."""
        return self.stores.fallback.stats()

    def close(self) -> None:
        self.stores.close()
