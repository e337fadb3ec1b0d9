"""`MemtraceChatMessageHistory`: LangChain chat history stored as memtrace session memories."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from contextlib import suppress
from datetime import timedelta
from typing import TypeVar

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from memtrace import (
    CreateSessionRequest,
    ListOptions,
    Memory,
    Memtrace,
    NotFoundError,
    check_id,
    id_for_key,
)
from memtrace.bridge import AnyMemtrace, ClientBridge, Plan
from memtrace.operations import AddMemories, CreateSession, DeleteMemories, DeleteMemory
from memtrace.paging import read_memories

from ._messages import MEMORY_TYPE, memory_request, message_from_memory

T = TypeVar("T")

# Session rows this process already made sure of, per client, so that a history object created per turn (as
# RunnableWithMessageHistory does) costs one create_session call per session, not one per turn.
_known_sessions: weakref.WeakKeyDictionary[object, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


class MemtraceChatMessageHistory(BaseChatMessageHistory):
    """Chat message history backed by memtrace.

    Each message is one memory of type ``session`` in memtrace session `memtrace_session_id`, with event type
    ``human_message``, ``ai_message``, ``tool_message``, ``system_message`` (...) and the message's text as
    content, so the conversation is searchable and shows up in memtrace session context. The full message is
    kept in the memory's metadata and comes back exactly as it was added, in the order it was added.

    Args:
        session_id: Any key you use for the conversation (a UUID, an e-mail, ``"user-1"``). It is mapped onto
            memtrace's id rules with `memtrace.id_for_key`: a key that already is a valid memtrace id (a letter,
            then letters, digits, ``_`` or ``-``, at most 128 characters) is used as it is; any other key
            becomes ``k_<readable part>_<16 hex of its sha256>``. The original key is kept in the metadata of
            the memtrace session row (``{"key": ...}``).
        client: A `memtrace.Memtrace` or `memtrace.AsyncMemtrace`, embedded or remote; either serves the sync
            and the async methods (through `memtrace.bridge.ClientBridge`). Default:
            `memtrace.Memtrace.from_env()`, closed again by `close`.
        agent_id: The memtrace agent the messages belong to.
    """

    def __init__(
        self, session_id: str, *, client: AnyMemtrace | None = None, agent_id: str = "langchain"
    ) -> None:
        super().__init__()
        if not isinstance(session_id, str) or not session_id:
            raise ValueError("session_id must be a non-empty string")
        self.session_key = session_id
        """The key exactly as given."""
        self.memtrace_session_id = id_for_key(session_id)
        """The memtrace session id the messages are stored under."""
        self.agent_id = check_id(agent_id, "agent_id")
        self._owns_client = client is None
        self._bridge = ClientBridge(
            Memtrace.from_env() if client is None else client, owner="MemtraceChatMessageHistory"
        )
        self.client: AnyMemtrace = self._bridge.client

    # --- sync API -------------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """All messages of the session, oldest first."""
        return self._blocking(self._read())

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append `messages` in one write: all of them are stored, or none (one invalid message fails the call)."""
        self._blocking(self._add(list(messages)))

    def clear(self) -> None:
        """Delete the session's messages. Other memories in the same memtrace session are kept."""
        self._blocking(self._clear())

    # --- native async API -----------------------------------------------------------------------------------

    async def aget_messages(self) -> list[BaseMessage]:
        return await self._bridge.arun(self._read())

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await self._bridge.arun(self._add(list(messages)))

    async def aclear(self) -> None:
        await self._bridge.arun(self._clear())

    def close(self) -> None:
        """Close the client if this history created it (``client=None``); a client you passed stays open."""
        if self._owns_client and isinstance(self.client, Memtrace):
            self.client.close()

    def __repr__(self) -> str:
        return (
            f"MemtraceChatMessageHistory(session_id={self.session_key!r}, "
            f"memtrace_session_id={self.memtrace_session_id!r}, agent_id={self.agent_id!r})"
        )

    # --- plans (shared by both APIs) ------------------------------------------------------------------------

    def _blocking(self, plan: Plan[T]) -> T:
        return self._bridge.run(plan)

    def _read(self) -> Plan[list[BaseMessage]]:
        messages: list[BaseMessage] = []
        for memory in (yield from self._session_memories(memory_type=MEMORY_TYPE)):
            message = message_from_memory(memory)
            if message is not None:
                messages.append(message)
        return messages

    def _add(self, messages: list[BaseMessage]) -> Plan[None]:
        if not messages:
            return
        # Build every request first: a message that cannot be stored fails the call before anything is written.
        requests = [
            memory_request(m, agent_id=self.agent_id, session_id=self.memtrace_session_id, index=i)
            for i, m in enumerate(messages)
        ]
        yield from self._ensure_session_row()
        yield AddMemories(requests)

    def _clear(self) -> Plan[None]:
        ours: list[Memory] = []
        others = 0
        for memory in (yield from self._session_memories(memory_type=None)):
            if memory.memory_type == MEMORY_TYPE and message_from_memory(memory) is not None:
                ours.append(memory)
            else:
                others += 1
        if not ours:
            return
        if others == 0:
            # Only messages in this (agent, session): one bulk delete. `until` is exclusive, so it stops right
            # after the newest message we saw and a memory written concurrently with clear() survives.
            until = max(m.time for m in ours) + timedelta(microseconds=1)
            yield DeleteMemories(
                agent_id=self.agent_id,
                session_id=self.memtrace_session_id,
                until=until.isoformat(),
            )
            return
        for memory in ours:
            with suppress(NotFoundError):  # deleted concurrently: the outcome clear() wants
                yield DeleteMemory(memory.id)

    def _session_memories(self, *, memory_type: str | None) -> Plan[list[Memory]]:
        return (
            yield from read_memories(
                ListOptions(
                    agent_id=self.agent_id,
                    session_id=self.memtrace_session_id,
                    memory_type=memory_type,
                    order="asc",
                )
            )
        )

    def _ensure_session_row(self) -> Plan[None]:
        """Give the session a row (memtrace `list_sessions` then finds it, with the original key in its
        metadata). Memories do not need one, so this happens once per client and session."""
        marker = (self.agent_id, self.memtrace_session_id)
        known = _known_sessions.setdefault(self.client, set())
        if marker in known:
            return
        yield CreateSession(
            CreateSessionRequest(
                id=self.memtrace_session_id,
                agent_id=self.agent_id,
                metadata={"key": self.session_key, "source": "langchain"},
            ),
            exist_ok=True,
        )
        known.add(marker)
