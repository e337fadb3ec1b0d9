"""Organisation and key management, shared by the admin REST routes and the ``memtrace org|key`` commands."""

from __future__ import annotations

from memtrace.audit import CLI, Actor
from memtrace.engine import Engine
from memtrace.errors import ValidationError
from memtrace.forget import ForgetReceipt
from memtrace.ids import new_entity_id
from memtrace.stores.base import OrgRow
from memtrace.validation import check_id

MAX_ORG_NAME_LENGTH = 256


class Admin:
    """Synchronous: call it from a worker thread on the server."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_org(self, name: str, org_id: str | None = None, *, actor: Actor = CLI) -> OrgRow:
        """A new organisation; `org_id` defaults to ``org_<24 hex>``. A taken id raises `ConflictError`.
        Recorded in the audit trail as done by `actor`."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name is required", "name")
        if len(name) > MAX_ORG_NAME_LENGTH or "\x00" in name:
            raise ValidationError(f"invalid name: at most {MAX_ORG_NAME_LENGTH} characters, no NUL", "name")
        org_id = check_id(org_id, "id", required=False) or new_entity_id("org")
        return self.engine.create_org(org_id, name.strip(), actor=actor)

    def list_orgs(self) -> list[OrgRow]:
        return self.engine.list_orgs()

    def get_org(self, org_id: str) -> OrgRow:
        return self.engine.get_org(org_id)

    def delete_org(self, org_id: str, *, actor: Actor = CLI) -> ForgetReceipt:
        """Delete an organisation with everything in it: memories, agents, sessions, keys and its Arc settings,
        so a later org with the same id starts empty. Returns the receipt of what went. Recorded in the audit
        trail as done by `actor`."""
        return self.engine.purge_org(org_id, actor=actor)
