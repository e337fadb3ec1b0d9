"""Chat keys as memtrace sessions.

Each LlamaIndex key maps onto the session ``id_for_key(key)``. A session row (with the original key in its
metadata) is created the first time a store writes to a key, so `get_keys` can list keys in their original
spelling. memtrace has no way to delete a session row, so a key counts as present only while it holds at
least one message of the store's event type.

Session ids are unique per organisation, not per agent: when two agents use the same key (LlamaIndex's default
key is "chat_history"), the row belongs to whichever wrote first, while each agent's messages carry its own
agent id. So `list_keys` looks at every session of the organisation and keeps those holding this agent's
messages; it costs one indexed probe per session, which is fine for a listing call.

memtrace memories are immutable; the stores delete exactly the messages they read, by id, atomically per 1,000
ids (memtrace's limit per call), so other memories sharing the session are never touched.

Everything here is a plan for `memtrace.bridge.ClientBridge` (reading pages is `memtrace.paging.read_memories`).
"""

from __future__ import annotations

import threading
from typing import Any

from memtrace import CreateSessionRequest, ListOptions, Session
from memtrace.bridge import Plan
from memtrace.operations import CreateSession, DeleteMemories, ListMemories, ListSessions

from ._client import session_for_key

KEY_FIELD = "key"
"""Session metadata field holding the original LlamaIndex key."""


class SessionRegistry:
    """Creates each key's session row once per store instance (an existing row is kept as it is)."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def __deepcopy__(self, memo: dict[int, Any]) -> SessionRegistry:
        return self  # shared by copies of a store, like its client

    def __reduce__(self) -> tuple[type[SessionRegistry], tuple[()]]:
        return (
            SessionRegistry,
            (),
        )  # a cache: an unpickled store starts afresh (rows are created idempotently)

    def _is_known(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._known

    def _remember(self, session_id: str) -> None:
        with self._lock:
            self._known.add(session_id)

    def ensure(self, agent_id: str, key: str) -> Plan[str]:
        """The key's session id, with its session row created if this instance has not done so yet."""
        session_id = session_for_key(key)
        if not self._is_known(session_id):
            request = CreateSessionRequest(id=session_id, agent_id=agent_id, metadata={KEY_FIELD: key})
            yield CreateSession(request, exist_ok=True)
            self._remember(session_id)
        return session_id


def _ordered(sessions: list[Session]) -> list[Session]:
    # Oldest first, like the insertion order of LlamaIndex's dict-backed SimpleChatStore.
    return sorted(sessions, key=lambda s: (s.created_at, s.id))


def _key_of(session: Session) -> str:
    key = (session.metadata or {}).get(KEY_FIELD)
    return key if isinstance(key, str) and key else session.id


def _probe(agent_id: str, session_id: str, event_type: str) -> ListMemories:
    return ListMemories(ListOptions(agent_id=agent_id, session_id=session_id, event_type=event_type, limit=1))


def list_keys(agent_id: str, event_type: str) -> Plan[list[str]]:
    """Keys whose sessions hold at least one of the agent's messages of `event_type`."""
    sessions = _ordered((yield ListSessions()).sessions)
    keys = []
    for s in sessions:
        if (yield _probe(agent_id, s.id, event_type)).memories:
            keys.append(_key_of(s))
    return keys


_DELETE_CHUNK = 1000


def delete_ids(memory_ids: list[str]) -> Plan[None]:
    """Delete these memories; one already gone (a concurrent delete) is not an error."""
    for start in range(0, len(memory_ids), _DELETE_CHUNK):
        yield DeleteMemories(memory_ids=memory_ids[start : start + _DELETE_CHUNK])
