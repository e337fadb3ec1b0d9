"""API keys (spec §6): format, hashing, lookup, and the first-run bootstrap.

A key is ``mtk_`` + URL-safe base64 of 32 random bytes (48 characters, ending in ``=``). The store keeps only a
bcrypt hash (cost >= 10) and ``hex(sha256(key))[:16]`` as a lookup prefix, so verifying a key reads a handful
of rows and runs bcrypt once. This module is synchronous: the server calls it in a worker thread, the CLI
directly.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import bcrypt

from memtrace.audit import CLI, SYSTEM, Actor, ActorKind, AuditAction, AuditTrail
from memtrace.errors import ConflictError, NotFoundError, ValidationError
from memtrace.stores.base import ApiKeyRow, MetadataStore
from memtrace.timeparse import now_us

log = logging.getLogger("memtrace_server.keys")

KEY_PATTERN = re.compile(r"^mtk_[A-Za-z0-9_-]{43}=$")
PERMISSIONS = ("read", "write", "admin")
DEFAULT_PERMISSIONS = "read,write"
BOOTSTRAP_ORG_ID = "org_default"
BOOTSTRAP_ORG_NAME = "Default"
MAX_KEY_NAME_LENGTH = 128


def generate_key() -> str:
    """A new random API key."""
    return "mtk_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    """The lookup index stored beside the hash: the first 16 hex characters of sha256(key)."""
    return key_digest(key)[:16]


def is_well_formed(key: str) -> bool:
    return bool(KEY_PATTERN.fullmatch(key))


def normalize_permissions(value: str | Iterable[str] | None) -> str:
    """Permissions as stored: a comma-separated subset of read, write, admin in that order."""
    if value is None:
        return DEFAULT_PERMISSIONS
    items = value.split(",") if isinstance(value, str) else list(value)
    wanted = set()
    for item in items:
        if not isinstance(item, str):
            raise ValidationError("invalid permissions: expected names", "permissions")
        name = item.strip().lower()
        if not name:
            continue
        if name not in PERMISSIONS:
            raise ValidationError(
                f"invalid permissions: {item!r} is not one of read, write, admin", "permissions"
            )
        wanted.add(name)
    if not wanted:
        raise ValidationError("permissions: give at least one of read, write, admin", "permissions")
    return ",".join(p for p in PERMISSIONS if p in wanted)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's organisation and permissions. `org_id` comes only from here."""

    org_id: str
    permissions: frozenset[str]
    key_id: int | None = None
    key_name: str = ""
    expires_us: int | None = None

    def allows(self, permission: str) -> bool:
        """`admin` implies every permission (spec §6.6)."""
        return permission in self.permissions or "admin" in self.permissions

    def actor(self, via: ActorKind = "api") -> Actor:
        """This caller as the audit trail names it: its key's id (never the key), and how it came."""
        return Actor(via, self.key_id)

    @property
    def is_server_admin(self) -> bool:
        """An admin key of the bootstrap organisation manages every organisation; admin keys of other
        organisations manage only their own organisation's keys."""
        return "admin" in self.permissions and self.org_id == BOOTSTRAP_ORG_ID

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> Principal:
        return cls(
            org_id=row.org_id,
            permissions=frozenset(p for p in row.permissions.split(",") if p),
            key_id=row.id,
            key_name=row.name,
            expires_us=row.expires_us,
        )


class KeyStore:
    """Creates, verifies, lists and revokes keys in a metadata store; creations and revocations go into the
    store's audit trail (`memtrace.audit`), whoever makes them (REST, CLI, first-run bootstrap)."""

    def __init__(self, metadata: MetadataStore, *, bcrypt_cost: int = 10) -> None:
        if bcrypt_cost < 10:
            raise ValueError("bcrypt cost must be at least 10")
        self.metadata = metadata
        self.bcrypt_cost = bcrypt_cost
        self.audit = AuditTrail(metadata, now_us)

    def create(
        self,
        org_id: str,
        name: str,
        permissions: str | Iterable[str] | None = None,
        *,
        expires_us: int | None = None,
        key: str | None = None,
        actor: Actor = CLI,
    ) -> tuple[ApiKeyRow, str]:
        """Create a key for an existing organisation; return its row and the key itself (shown once). Recorded
        in the audit trail as done by `actor`."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name is required", "name")
        if len(name) > MAX_KEY_NAME_LENGTH or "\x00" in name:
            raise ValidationError(f"invalid name: at most {MAX_KEY_NAME_LENGTH} characters, no NUL", "name")
        perms = normalize_permissions(permissions)
        if self.metadata.get_org(org_id) is None:
            raise NotFoundError(f"organization '{org_id}' not found")
        key = key or generate_key()
        if not is_well_formed(key):
            raise ValidationError(
                "invalid key: expected mtk_ followed by 43 base64 characters and '='", "key"
            )
        hashed = bcrypt.hashpw(key.encode("ascii"), bcrypt.gensalt(rounds=self.bcrypt_cost)).decode("ascii")
        row = self.metadata.create_api_key(
            org_id, name.strip(), hashed, key_prefix(key), perms, now_us(), expires_us
        )
        self.audit.record(
            org_id,
            AuditAction.KEY_CREATE,
            actor=actor,
            filter={"key_id": row.id, "name": row.name, "permissions": row.permissions},
        )
        return row, key

    def verify(self, key: str) -> Principal | None:
        """The principal of a valid, enabled, unexpired key, or None. Pays bcrypt: cache the answer."""
        if not is_well_formed(key):
            return None
        encoded = key.encode("ascii")
        now = now_us()
        for row in self.metadata.find_api_keys(key_prefix(key)):
            if row.expires_us is not None and row.expires_us <= now:
                continue
            if bcrypt.checkpw(encoded, row.key_hash.encode("ascii")):
                return Principal.from_row(row)
        return None

    def list_keys(self, org_id: str | None = None) -> list[ApiKeyRow]:
        return self.metadata.list_api_keys(org_id)

    def get_key(self, key_id: int) -> ApiKeyRow | None:
        return self.metadata.get_api_key(key_id)

    def revoke(self, key_id: int, *, actor: Actor = CLI) -> bool:
        """Disable a key; True if it was enabled (then recorded in the audit trail as done by `actor`)."""
        row = self.metadata.get_api_key(key_id)
        revoked = self.metadata.revoke_api_key(key_id)
        if revoked and row is not None:
            self.audit.record(
                row.org_id, AuditAction.KEY_REVOKE, actor=actor, filter={"key_id": key_id, "name": row.name}
            )
        return revoked

    def version(self) -> int:
        """Changes whenever a key is created or revoked or an org deleted (one cheap read)."""
        return self.metadata.keys_version()

    def enabled_ids(self) -> set[int]:
        now = now_us()
        return {
            r.id
            for r in self.metadata.list_api_keys()
            if r.enabled and (r.expires_us is None or r.expires_us > now)
        }


def bootstrap(keys: KeyStore, admin_key: str | None = None) -> str | None:
    """First run (spec §6.7): make sure ``org_default`` exists and someone can administer the server.

    With `admin_key` (``MEMTRACE_ADMIN_KEY``), that key is added as an admin key of ``org_default`` only when
    the organisation has no enabled admin key and the key was never stored: a key that was revoked (or expired,
    or lost its admin permission) stays that way however often the server restarts with the same environment.
    Without it, when the store has no key at all, a random admin key is created and returned so the caller can
    print it once. What happened is logged. Returns None when nothing was generated.
    """
    metadata = keys.metadata
    metadata.ensure_org(BOOTSTRAP_ORG_ID, BOOTSTRAP_ORG_NAME, now_us())
    if admin_key:
        if not is_well_formed(admin_key):
            raise ValidationError(
                "MEMTRACE_ADMIN_KEY must be an mtk_ key: 'mtk_' + 43 URL-safe base64 characters + '='",
                "MEMTRACE_ADMIN_KEY",
            )
        _bootstrap_admin_key(keys, admin_key)
        return None
    if keys.list_keys():
        return None
    try:
        _, key = keys.create(BOOTSTRAP_ORG_ID, "admin", "read,write,admin", actor=SYSTEM)
    except ConflictError:
        return None
    log.info("first run: created an admin key for %s (printed once)", BOOTSTRAP_ORG_ID)
    return key


def _bootstrap_admin_key(keys: KeyStore, admin_key: str) -> None:
    stored = _stored_row(keys, admin_key)
    now = now_us()
    if stored is not None:
        usable = stored.enabled and (stored.expires_us is None or stored.expires_us > now)
        if usable and stored.org_id == BOOTSTRAP_ORG_ID and "admin" in stored.permissions.split(","):
            log.info("MEMTRACE_ADMIN_KEY is admin key %d of %s", stored.id, BOOTSTRAP_ORG_ID)
            return
        state = "revoked" if not stored.enabled else "expired" if not usable else "not an admin key"
        log.warning(
            "MEMTRACE_ADMIN_KEY is key %d of %s, which is %s; it is not added again. Unset MEMTRACE_ADMIN_KEY "
            "or set it to a new key",
            stored.id,
            stored.org_id,
            state,
        )
        return
    admins = [
        r.id
        for r in keys.list_keys(BOOTSTRAP_ORG_ID)
        if r.enabled and (r.expires_us is None or r.expires_us > now) and "admin" in r.permissions.split(",")
    ]
    if admins:
        log.warning(
            "MEMTRACE_ADMIN_KEY is not added: %s already has admin keys (ids %s). Use one of them, or create "
            "another with `memtrace key create --org %s --name NAME --permissions read,write,admin`",
            BOOTSTRAP_ORG_ID,
            ", ".join(map(str, admins)),
            BOOTSTRAP_ORG_ID,
        )
        return
    taken = {r.name for r in keys.list_keys(BOOTSTRAP_ORG_ID)}
    name = "admin" if "admin" not in taken else f"admin-{key_prefix(admin_key)[:8]}"
    try:
        row, _ = keys.create(BOOTSTRAP_ORG_ID, name, "read,write,admin", key=admin_key, actor=SYSTEM)
    except ConflictError:  # another process bootstrapping the same directory got there first
        return
    log.info("MEMTRACE_ADMIN_KEY added as admin key %d (%s) of %s", row.id, name, BOOTSTRAP_ORG_ID)


def _stored_row(keys: KeyStore, key: str) -> ApiKeyRow | None:
    """The row holding `key`, enabled or not (pays bcrypt per candidate row; start-up only)."""
    prefix = key_prefix(key)
    encoded = key.encode("ascii")
    for row in keys.list_keys():
        if row.key_prefix == prefix and bcrypt.checkpw(encoded, row.key_hash.encode("ascii")):
            return row
    return None


FIRST_RUN_BANNER = """==========================================================
  FIRST RUN: Save your admin API key (shown only once)
  API Key: {key}
=========================================================="""
