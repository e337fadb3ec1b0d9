"""Chat keys as memtrace sessions.

Each LlamaIndex key maps onto the session ``id_for_key(key)``. A session row (with the original key in its
metadata) is created the first time a store writes to a key, so `get_keys` can list keys in their original
spelling. memtrace has no way to delete a session row, so a key counts as present only while it holds at
least one message of the store's event type.

Session ids are unique per organisation, not per agent: when two agents use the same key (LlamaIndex's default
key is "chat_history"), the row belongs to whichever wrote first, while each agent's messages carry its own
agent id. So `list_keys` looks at every session of the organisation and keeps those holding this agent's
messages; it costs one indexed probe per session, which is fine for a listing call.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from memtrace import AsyncMemtrace, ConflictError, CreateSessionRequest, ListOptions, Memtrace, Session

from ._client import session_for_key

KEY_FIELD = "key"
"""Session metadata field holding the original LlamaIndex key."""


class SessionRegistry:
    """Creates each key's session row once per store instance (a taken id means it already exists)."""

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

    @staticmethod
    def _request(agent_id: str, key: str, session_id: str) -> CreateSessionRequest:
        return CreateSessionRequest(id=session_id, agent_id=agent_id, metadata={KEY_FIELD: key})

    def _is_known(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._known

    def _remember(self, session_id: str) -> None:
        with self._lock:
            self._known.add(session_id)

    def ensure(self, client: Memtrace, agent_id: str, key: str) -> str:
        """The key's session id, with its session row created if this instance has not done so yet."""
        session_id = session_for_key(key)
        if not self._is_known(session_id):
            with contextlib.suppress(ConflictError):
                client.create_session(self._request(agent_id, key, session_id))
            self._remember(session_id)
        return session_id

    async def aensure(self, client: AsyncMemtrace, agent_id: str, key: str) -> str:
        """Async `ensure`."""
        session_id = session_for_key(key)
        if not self._is_known(session_id):
            with contextlib.suppress(ConflictError):
                await client.create_session(self._request(agent_id, key, session_id))
            self._remember(session_id)
        return session_id


def _ordered(sessions: list[Session]) -> list[Session]:
    # Oldest first, like the insertion order of LlamaIndex's dict-backed SimpleChatStore.
    return sorted(sessions, key=lambda s: (s.created_at, s.id))


def _key_of(session: Session) -> str:
    key = (session.metadata or {}).get(KEY_FIELD)
    return key if isinstance(key, str) and key else session.id


def _probe(agent_id: str, session_id: str, event_type: str) -> ListOptions:
    return ListOptions(agent_id=agent_id, session_id=session_id, event_type=event_type, limit=1)


def list_keys(client: Memtrace, agent_id: str, event_type: str) -> list[str]:
    """Keys whose sessions hold at least one of the agent's messages of `event_type`."""
    sessions = _ordered(client.list_sessions().sessions)
    return [_key_of(s) for s in sessions if client.list_memories(_probe(agent_id, s.id, event_type)).memories]


async def alist_keys(client: AsyncMemtrace, agent_id: str, event_type: str) -> list[str]:
    """Async `list_keys`."""
    sessions = _ordered((await client.list_sessions()).sessions)
    keys = []
    for s in sessions:
        if (await client.list_memories(_probe(agent_id, s.id, event_type))).memories:
            keys.append(_key_of(s))
    return keys
