"""`MemtraceDBChatStore`: the `AsyncDBChatStore` behind LlamaIndex's new `llama_index.core.memory.Memory`.

`Memory` keeps a FIFO queue of ACTIVE messages per session and, when the queue outgrows its token budget,
archives the oldest ones and hands them to its memory blocks. Each message here is a memtrace memory tagged
``active`` or ``archived``.

memtrace memories are immutable, so a status change cannot be an update. Archiving rewrites the messages:
the archived copies are written first in one atomic batch, with their original timestamps (so the
conversation keeps its order), and only then are the active originals deleted. A failure between the two
steps can leave a message both active and archived for a moment; it can never lose one.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus

from memtrace import AddMemoryRequest, ListOptions, Memory, check_id
from memtrace.bridge import Plan
from memtrace.models import Order
from memtrace.operations import AddMemories, AddMemory
from memtrace.paging import read_memories

from ._client import AnyClient, ClientBinding, ClientBound, session_for_key
from ._messages import memory_message, message_request
from ._sessions import SessionRegistry, delete_ids, list_keys

DEFAULT_AGENT_ID = "llamaindex"
MEMORY_EVENT_TYPE = "llamaindex_memory"
"""Event type of the messages this store writes; it keeps them apart from other memories in the session."""


def status_tag(status: MessageStatus) -> str:
    """The memtrace tag that carries a message's status: ``active`` or ``archived``."""
    return MessageStatus(status).value


class MemtraceDBChatStore(ClientBound, AsyncDBChatStore):
    """LlamaIndex's `AsyncDBChatStore` on memtrace, for ``Memory.from_defaults(chat_store=...)``.

    - `key` (Memory's ``session_id``) maps deterministically onto the memtrace session ``id_for_key(key)``.
    - Status is the tag ``active`` / ``archived``; archiving rewrites messages (see the module docs).
    - `delete_message(key, idx)` deletes the message at position `idx` of the key's whole conversation
      (archived and active, oldest first; negative counts from the end). LlamaIndex's `SQLAlchemyChatStore`
      reads `idx` as its internal row id, which has no meaning outside its table.
    - `client` is an `AsyncMemtrace` (native async) or a `Memtrace` (each call runs in a worker thread).
      With none, `Memtrace.from_env()` is used.
    """

    agent_id: str = Field(default=DEFAULT_AGENT_ID, description="memtrace agent the messages belong to.")

    _binding: ClientBinding = PrivateAttr(default_factory=ClientBinding)
    _sessions: SessionRegistry = PrivateAttr(default_factory=SessionRegistry)

    def __init__(
        self, client: AnyClient | None = None, *, agent_id: str = DEFAULT_AGENT_ID, **data: Any
    ) -> None:
        check_id(agent_id, "agent_id")
        super().__init__(agent_id=agent_id, **data)
        self._binding = ClientBinding(client)

    @classmethod
    def class_name(cls) -> str:
        return "MemtraceDBChatStore"

    @property
    def client(self) -> AnyClient:
        """The memtrace client this store writes through."""
        return self._binding.client

    # -- helpers -------------------------------------------------------------------------------------------

    def _request(
        self, session_id: str, message: ChatMessage, status: MessageStatus, time: Any = None
    ) -> AddMemoryRequest:
        return message_request(
            message,
            agent_id=self.agent_id,
            session_id=session_id,
            event_type=MEMORY_EVENT_TYPE,
            tags=[status_tag(status)],
            time=time,
        )

    def _read(
        self,
        key: str,
        status: MessageStatus | None,
        *,
        offset: int = 0,
        limit: int | None = None,
        order: Order = "asc",
    ) -> Plan[list[Memory]]:
        return read_memories(
            ListOptions(
                agent_id=self.agent_id,
                session_id=session_for_key(key),
                event_type=MEMORY_EVENT_TYPE,
                tags=[status_tag(status)] if status is not None else None,
                order=order,
                offset=offset,
                limit=limit,
            )
        )

    # -- plans (run by the async API below) ----------------------------------------------------------------

    def _set_messages(self, key: str, messages: list[ChatMessage], status: MessageStatus) -> Plan[None]:
        session_id = yield from self._sessions.ensure(self.agent_id, key)
        old = [m.id for m in (yield from self._read(key, None))]
        if messages:
            yield AddMemories([self._request(session_id, m, status) for m in messages])
        yield from delete_ids(old)

    def _add_message(self, key: str, message: ChatMessage, status: MessageStatus) -> Plan[None]:
        session_id = yield from self._sessions.ensure(self.agent_id, key)
        yield AddMemory(self._request(session_id, message, status))

    def _add_messages(self, key: str, messages: list[ChatMessage], status: MessageStatus) -> Plan[None]:
        session_id = yield from self._sessions.ensure(self.agent_id, key)
        yield AddMemories([self._request(session_id, m, status) for m in messages])

    def _delete_message(self, key: str, idx: int) -> Plan[ChatMessage | None]:
        order: Order = "asc" if idx >= 0 else "desc"
        found = yield from self._read(key, None, offset=idx if idx >= 0 else -idx - 1, limit=1, order=order)
        if not found:
            return None
        yield from delete_ids([found[0].id])
        return memory_message(found[0])

    def _delete_read(self, read: Plan[list[Memory]]) -> Plan[list[ChatMessage]]:
        """Delete the memories `read` finds and return their messages."""
        memories = yield from read
        yield from delete_ids([m.id for m in memories])
        return [memory_message(m) for m in memories]

    def _archive_oldest(self, key: str, n: int) -> Plan[list[ChatMessage]]:
        oldest = yield from self._read(key, MessageStatus.ACTIVE, limit=n)
        if not oldest:
            return []
        messages = [memory_message(m) for m in oldest]
        session_id = yield from self._sessions.ensure(self.agent_id, key)
        # Archived copies first (one atomic batch, original times), then the originals: never a lost message.
        yield AddMemories(
            [
                self._request(session_id, msg, MessageStatus.ARCHIVED, mem.time)
                for msg, mem in zip(messages, oldest, strict=True)
            ]
        )
        yield from delete_ids([m.id for m in oldest])
        return messages

    # -- AsyncDBChatStore ----------------------------------------------------------------------------------

    async def get_messages(
        self,
        key: str,
        status: MessageStatus | None = MessageStatus.ACTIVE,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[ChatMessage]:
        """The key's messages with `status` (all when None), oldest first, paged by `offset` / `limit`."""
        if limit is not None and limit <= 0:
            return []
        memories = await self._binding.bridge.arun(
            self._read(key, status, offset=max(offset or 0, 0), limit=limit)
        )
        return [memory_message(m) for m in memories]

    async def count_messages(self, key: str, status: MessageStatus | None = MessageStatus.ACTIVE) -> int:
        """How many messages the key has with `status` (all when None)."""
        return len(await self._binding.bridge.arun(self._read(key, status)))

    async def add_message(
        self, key: str, message: ChatMessage, status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append one message with `status`."""
        await self._binding.bridge.arun(self._add_message(key, message, status))

    async def add_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append messages, all or none (one memtrace batch)."""
        if not messages:
            return
        await self._binding.bridge.arun(self._add_messages(key, messages, status))

    async def set_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Replace all of the key's messages (any status) with `messages`, which get `status`."""
        await self._binding.bridge.arun(self._set_messages(key, messages, status))

    async def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the message at position `idx` of the whole conversation; None when out of range."""
        return await self._binding.bridge.arun(self._delete_message(key, idx))

    async def delete_messages(self, key: str, status: MessageStatus | None = None) -> None:
        """Delete the key's messages with `status` (all when None)."""
        await self._binding.bridge.arun(self._delete_read(self._read(key, status)))

    async def delete_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Delete the oldest `n` active messages and return them."""
        if n <= 0:
            return []
        return await self._binding.bridge.arun(
            self._delete_read(self._read(key, MessageStatus.ACTIVE, limit=n))
        )

    async def archive_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Move the oldest `n` active messages to archived and return them."""
        if n <= 0:
            return []
        return await self._binding.bridge.arun(self._archive_oldest(key, n))

    async def get_keys(self) -> list[str]:
        """Every key holding at least one message, in its original spelling."""
        return await self._binding.bridge.arun(list_keys(self.agent_id, MEMORY_EVENT_TYPE))
