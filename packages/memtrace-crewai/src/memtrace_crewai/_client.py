"""Which memtrace client, agent and session a CrewAI write belongs to."""

from __future__ import annotations

import re

from crewai.memory.utils import sanitize_scope_name

from memtrace import Memtrace, ValidationError
from memtrace.ids import id_for_key

_NAMESPACE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,39}$")


def resolve_client(client: Memtrace | None) -> tuple[Memtrace, bool]:
    """The given client, or one from the environment (`Memtrace.from_env()`: remote when MEMTRACE_URL and
    MEMTRACE_API_KEY are set, else embedded in MEMTRACE_DATA_DIR). The flag says whether we created it (and so
    close it)."""
    if client is None:
        return Memtrace.from_env(), True
    if not isinstance(client, Memtrace):
        # CrewAI's Memory API is synchronous; an AsyncMemtrace is bound to an event loop we do not own.
        raise TypeError(
            f"client must be a sync memtrace.Memtrace (CrewAI memory is synchronous), not {type(client).__name__}"
        )
    return client, False


def check_namespace(namespace: str) -> str:
    """A namespace becomes a tag on every memory; no dots, so it never collides with the adapter's tags."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise ValidationError(
            f"invalid namespace {namespace!r}: must start with a letter and contain only letters, digits, "
            "'_' or '-', max 40 chars",
            "namespace",
        )
    return namespace


def agent_id_for_role(role: str) -> str:
    """The memtrace agent id of a CrewAI agent role: the role as CrewAI writes it into scope paths
    (``Senior Researcher`` -> ``senior-researcher``), mapped onto memtrace's id rules."""
    return id_for_key(sanitize_scope_name(role))


def run_session_id(execution_uuid: str) -> str:
    """The memtrace session of one crew run (CrewAI's execution uuid, shared by nested kickoffs)."""
    return id_for_key("run-" + execution_uuid)


def current_execution_uuid() -> str | None:
    """CrewAI's id of the kickoff in progress on this thread (a context variable), if any."""
    try:
        from crewai.execution import get_execution_uuid
    except ImportError:  # older crewai: no run identity, so no per-run session
        return None
    return get_execution_uuid()
