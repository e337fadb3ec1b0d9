"""Organisations' Arc instances as the server keeps them: validated, tokens encrypted, in the metadata store.

Until the store gained them, they lived in ``<data_dir>/arc.db``; `import_legacy_arc_db` moves such a file's rows
into the metadata store once, at start-up, and renames the file so it is never read again.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from memtrace.errors import ValidationError
from memtrace.ids import new_entity_id
from memtrace.stores.arc.config import ArcConfig
from memtrace.stores.base import ArcInstanceRow, MetadataStore
from memtrace.timeparse import now_us

from .master_key import MasterKey

log = logging.getLogger("memtrace_server.arc")

LEGACY_FILENAME = "arc.db"
IMPORTED_SUFFIX = ".imported"


def new_instance(
    master: MasterKey,
    org_id: str,
    *,
    url: str,
    token: str,
    database: str,
    measurement: str,
    admin_token: str | None,
) -> ArcInstanceRow:
    """The row for an organisation's Arc settings, checked (errors name the field) and with tokens encrypted.
    Stored with `MetadataStore.put_arc_instance`, which keeps an existing row's id and creation time."""
    if not isinstance(token, str) or not token:
        raise ValidationError("token is required", "token")
    ArcConfig(url=url, token=token, database=database, measurement=measurement)  # validates, names the field
    cipher, nonce = master.encrypt(token)
    admin_cipher, admin_nonce = master.encrypt(admin_token) if admin_token else (None, None)
    now = now_us()
    return ArcInstanceRow(
        id=new_entity_id("arc"),
        org_id=org_id,
        url=url,
        database=database,
        measurement=measurement,
        token_cipher=cipher,
        token_nonce=nonce,
        admin_cipher=admin_cipher,
        admin_nonce=admin_nonce,
        created_us=now,
        updated_us=now,
    )


def public_view(row: ArcInstanceRow) -> dict[str, Any]:
    """What may be shown of an instance: never a token."""
    return {
        "id": row.id,
        "org_id": row.org_id,
        "url": row.url,
        "database": row.database,
        "measurement": row.measurement,
        "admin_token": row.admin_cipher is not None,
        "created_us": row.created_us,
        "updated_us": row.updated_us,
    }


def import_legacy_arc_db(data_dir: Path, metadata: MetadataStore) -> int:
    """Move the rows of ``<data_dir>/arc.db`` (the old home of Arc instances) into `metadata`, then rename the
    file to ``arc.db.imported``. Rows the store already has for an org are kept (the store is newer). Returns
    how many rows were imported; 0 when there is no such file."""
    path = data_dir / LEGACY_FILENAME
    if not path.is_file():
        return 0
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT id, org_id, url, database, measurement, api_key_cipher, api_key_nonce, admin_key_cipher, "
            "admin_key_nonce, created_us, updated_us FROM arc_instances"
        ).fetchall()
    except sqlite3.OperationalError:  # an arc.db without the table: nothing was ever stored
        rows = []
    finally:
        conn.close()
    imported = 0
    for row in rows:
        instance = ArcInstanceRow(*row)
        if metadata.get_arc_instance(instance.org_id) is None:
            metadata.put_arc_instance(instance)
            imported += 1
    for suffix in ("", "-wal", "-shm"):
        legacy = path.with_name(path.name + suffix)
        if legacy.exists():
            legacy.rename(legacy.with_name(legacy.name + IMPORTED_SUFFIX))
    log.info("moved %d Arc instance(s) from %s into the metadata store", imported, path)
    return imported
