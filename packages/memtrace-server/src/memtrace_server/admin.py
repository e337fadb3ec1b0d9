"""Organisation and key management, shared by the admin REST routes and the ``memtrace org|key`` commands."""

from __future__ import annotations

from memtrace.errors import NotFoundError, ValidationError
from memtrace.ids import new_entity_id
from memtrace.records import MemoryFilter
from memtrace.stores.base import EventStore, OrgRow
from memtrace.timeparse import now_us
from memtrace.validation import check_id

from .keys import KeyStore

MAX_ORG_NAME_LENGTH = 256


class Admin:
    """Synchronous: call it from a worker thread on the server."""

    def __init__(self, keys: KeyStore, events: EventStore) -> None:
        self.keys = keys
        self.metadata = keys.metadata
        self.events = events

    def create_org(self, name: str, org_id: str | None = None) -> OrgRow:
        """A new organisation; `org_id` defaults to ``org_<24 hex>``. A taken id raises `ConflictError`."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name is required", "name")
        if len(name) > MAX_ORG_NAME_LENGTH or "\x00" in name:
            raise ValidationError(f"invalid name: at most {MAX_ORG_NAME_LENGTH} characters, no NUL", "name")
        org_id = check_id(org_id, "id", required=False) or new_entity_id("org")
        return self.metadata.create_org(org_id, name.strip(), now_us())

    def list_orgs(self) -> list[OrgRow]:
        return self.metadata.list_orgs()

    def get_org(self, org_id: str) -> OrgRow:
        org = self.metadata.get_org(org_id)
        if org is None:
            raise NotFoundError(f"organization '{org_id}' not found")
        return org

    def delete_org(self, org_id: str) -> int:
        """Delete an organisation with everything in it: memories, agents, sessions and keys, so a later org
        with the same id starts empty. Returns the number of memories deleted."""
        self.get_org(org_id)
        # An empty filter at store level means "all of this org's memories"; the engine refuses it on purpose,
        # and only this operator action needs it.
        deleted = self.events.delete(org_id, MemoryFilter())
        self.metadata.delete_org(org_id)
        return deleted
