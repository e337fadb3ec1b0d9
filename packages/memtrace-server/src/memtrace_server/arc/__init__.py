"""Arc per organisation on the server.

- `master_key`: Arc tokens are encrypted under ``MEMTRACE_MASTER_KEY`` before the metadata store sees them.
- `instances`: an organisation's Arc settings as rows of the metadata store (and the one-time move out of the
  old ``arc.db``).
- `settings`: ``[arc]`` in memtrace.toml: tuning, and an optional server-wide default Arc.
- `routing`: the engine's event store, which sends each organisation's calls to its own store.

`route_by_org` puts the routing in front of the main store's events, before the engine is built.
"""

from __future__ import annotations

from collections.abc import Mapping

from memtrace.stores import StoreBundle

from ..config import ServerConfig
from .instances import import_legacy_arc_db, new_instance, public_view
from .master_key import MASTER_KEY_ENV, MasterKey, require_master_key
from .routing import OrgArcStores, OrgRoutedEventStore
from .settings import ArcDefaults, read_arc_section


def route_by_org(
    config: ServerConfig, stores: StoreBundle, env: Mapping[str, str] | None = None
) -> tuple[StoreBundle, OrgArcStores]:
    """`stores` with each organisation's memories routed to its Arc (or the default Arc, or the main store),
    and the routing itself (for the Arc admin commands and status)."""
    import_legacy_arc_db(config.data_dir, stores.metadata)
    arc = OrgArcStores(
        config.data_dir,
        stores.events,
        stores.metadata,
        MasterKey.from_env(env),
        read_arc_section(config, env),
        synchronous=config.store.sqlite_synchronous,
    )
    return stores.with_events(OrgRoutedEventStore(arc)), arc


__all__ = [
    "MASTER_KEY_ENV",
    "ArcDefaults",
    "MasterKey",
    "OrgArcStores",
    "OrgRoutedEventStore",
    "import_legacy_arc_db",
    "new_instance",
    "public_view",
    "read_arc_section",
    "require_master_key",
    "route_by_org",
]
