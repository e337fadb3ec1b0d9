"""`MemtraceChatStore`: LlamaIndex's legacy `BaseChatStore` (used by `ChatMemoryBuffer`) on memtrace.

Each method is written once, as a plan (`memtrace.bridge`), and run from sync code or from async code.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.storage.chat_store.base import BaseChatStore

from memtrace import AddMemoryRequest, AsyncMemtrace, ListOptions, Memory, check_id
from memtrace.bridge import ClientBridge, Plan
from memtrace.models import Order
from memtrace.operations import AddMemories, AddMemory
from memtrace.paging import read_memories

from ._client import AnyClient, ClientBinding, ClientBound, session_for_key
from ._messages import memory_message, message_request
from ._sessions import SessionRegistry, delete_ids, list_keys

DEFAULT_AGENT_ID = "llamaindex"
CHAT_EVENT_TYPE = "llamaindex_chat"
"""Event type of the messages this store writes; it keeps them apart from other memories in the session."""


class MemtraceChatStore(ClientBound, BaseChatStore):
    """A LlamaIndex chat store that keeps every chat key's messages as a memtrace session.

    Use it wherever LlamaIndex takes a `BaseChatStore`, e.g.
    ``ChatMemoryBuffer.from_defaults(chat_store=MemtraceChatStore(client), chat_store_key="user-1")``.

    - Any key works (UUIDs, e-mails): it maps deterministically onto the session ``id_for_key(key)``.
    - Messages round-trip exactly (role, content blocks, additional_kwargs) and in order; their text is the
      memory content, so memtrace's search and context see the conversation too.
    - `client` is a `Memtrace` (sync and async methods; async ones run it in a worker thread) or an
      `AsyncMemtrace` (async methods natively; sync ones through memtrace's bridge, so ``ChatMemoryBuffer``
      works with it). Pass both kinds as `client` and `async_client` to pick each side's client. With
      neither, `Memtrace.from_env()` is used.
    - Deleting a message deletes its memory; replacing messages (`set_messages`) writes the new ones in one
      batch before deleting the old ones, so a failure can leave both, never neither.
    """

    agent_id: str = Field(default=DEFAULT_AGENT_ID, description="memtrace agent the messages belong to.")

    _binding: ClientBinding = PrivateAttr(default_factory=ClientBinding)
    _sessions: SessionRegistry = PrivateAttr(default_factory=SessionRegistry)

    def __init__(
        self,
        client: AnyClient | None = None,
        *,
        agent_id: str = DEFAULT_AGENT_ID,
        async_client: AsyncMemtrace | None = None,
        **data: Any,
    ) -> None:
        check_id(agent_id, "agent_id")
        super().__init__(agent_id=agent_id, **data)
        self._binding = ClientBinding(client, async_client)

    @classmethod
    def class_name(cls) -> str:
        return "MemtraceChatStore"

    @property
    def client(self) -> AnyClient:
        """The memtrace client this store writes through."""
        return self._binding.client

    # -- helpers -------------------------------------------------------------------------------------------

    def _sync(self) -> ClientBridge:
        return self._binding.sync_bridge()

    def _read(
        self, key: str, order: Order = "asc", *, offset: int = 0, limit: int | None = None
    ) -> Plan[list[Memory]]:
        return read_memories(
            ListOptions(
                agent_id=self.agent_id,
                session_id=session_for_key(key),
                event_type=CHAT_EVENT_TYPE,
                order=order,
                offset=offset,
                limit=limit,
            )
        )

    def _request(self, session_id: str, message: ChatMessage) -> AddMemoryRequest:
        return message_request(
            message, agent_id=self.agent_id, session_id=session_id, event_type=CHAT_EVENT_TYPE
        )

    # -- plans (each method once; the sync and async APIs below run them) -----------------------------------

    def _set_messages(self, key: str, messages: list[ChatMessage]) -> Plan[None]:
        session_id = yield from self._sessions.ensure(self.agent_id, key)
        old = [m.id for m in (yield from self._read(key))]
        if messages:
            yield AddMemories([self._request(session_id, m) for m in messages])
        yield from delete_ids(old)

    def _get_messages(self, key: str) -> Plan[list[ChatMessage]]:
        return [memory_message(m) for m in (yield from self._read(key))]

    def _add_message(self, key: str, message: ChatMessage) -> Plan[None]:
        session_id = yield from self._sessions.ensure(self.agent_id, key)
        yield AddMemory(self._request(session_id, message))

    def _delete_messages(self, key: str) -> Plan[list[ChatMessage] | None]:
        memories = yield from self._read(key)
        if not memories:
            return None
        yield from delete_ids([m.id for m in memories])
        return [memory_message(m) for m in memories]

    def _delete_message(self, key: str, idx: int) -> Plan[ChatMessage | None]:
        # A negative index counts from the end, as list.pop does in LlamaIndex's SimpleChatStore.
        order: Order = "asc" if idx >= 0 else "desc"
        found = yield from self._read(key, order, offset=idx if idx >= 0 else -idx - 1, limit=1)
        if not found:
            return None
        yield from delete_ids([found[0].id])
        return memory_message(found[0])

    # -- sync API ------------------------------------------------------------------------------------------

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the key's messages with `messages`."""
        self._sync().run(self._set_messages(key, messages))

    def get_messages(self, key: str) -> list[ChatMessage]:
        """The key's messages, oldest first ([] for an unknown key)."""
        return self._sync().run(self._get_messages(key))

    def add_message(self, key: str, message: ChatMessage) -> None:
        """Append a message to the key's conversation."""
        self._sync().run(self._add_message(key, message))

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Delete the key's messages and return them (None when it had none)."""
        return self._sync().run(self._delete_messages(key))

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the message at position `idx` (negative counts from the end); None when out of range."""
        return self._sync().run(self._delete_message(key, idx))

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Delete and return the newest message (None when there is none)."""
        return self.delete_message(key, -1)

    def get_keys(self) -> list[str]:
        """Every key holding at least one message, in its original spelling, oldest key first."""
        return self._sync().run(list_keys(self.agent_id, CHAT_EVENT_TYPE))

    # -- async API (native: awaits the async client, never blocks the event loop) ---------------------------

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Async `set_messages`."""
        await self._binding.bridge.arun(self._set_messages(key, messages))

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        """Async `get_messages`."""
        return await self._binding.bridge.arun(self._get_messages(key))

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        """Async `add_message` (LlamaIndex names it `async_add_message`)."""
        await self._binding.bridge.arun(self._add_message(key, message))

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        """Async `delete_messages`."""
        return await self._binding.bridge.arun(self._delete_messages(key))

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Async `delete_message`."""
        return await self._binding.bridge.arun(self._delete_message(key, idx))

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        """Async `delete_last_message`."""
        return await self.adelete_message(key, -1)

    async def aget_keys(self) -> list[str]:
        """Async `get_keys`."""
        return await self._binding.bridge.arun(list_keys(self.agent_id, CHAT_EVENT_TYPE))
