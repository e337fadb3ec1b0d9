"""`MemtraceChatStore`: LlamaIndex's legacy `BaseChatStore` (used by `ChatMemoryBuffer`) on memtrace."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.storage.chat_store.base import BaseChatStore

from memtrace import AddMemoryRequest, AsyncMemtrace, ListOptions, Memory, Memtrace
from memtrace.models import Order

from ._client import AnyClient, ClientBinding, ClientBound, check_agent_id, session_for_key
from ._messages import memory_message, message_request
from ._session_io import OptionsFor, adelete_ids, aread_memories, delete_ids, read_memories
from ._sessions import SessionRegistry, alist_keys, list_keys

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
      `AsyncMemtrace` (async methods only). Pass both kinds as `client` and `async_client` to get native
      async as well as sync. With neither, `Memtrace.from_env()` is used.
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
        check_agent_id(agent_id)
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

    def _sync(self) -> Memtrace:
        return self._binding.sync(type(self).__name__)

    def _options(self, key: str, order: Order = "asc") -> OptionsFor:
        session_id = session_for_key(key)

        def options_for(offset: int, limit: int) -> ListOptions:
            return ListOptions(
                agent_id=self.agent_id,
                session_id=session_id,
                event_type=CHAT_EVENT_TYPE,
                order=order,
                offset=offset,
                limit=limit,
            )

        return options_for

    def _request(self, session_id: str, message: ChatMessage) -> AddMemoryRequest:
        return message_request(
            message, agent_id=self.agent_id, session_id=session_id, event_type=CHAT_EVENT_TYPE
        )

    @staticmethod
    def _position(idx: int) -> tuple[Order, int]:
        # A negative index counts from the end, as list.pop does in LlamaIndex's SimpleChatStore.
        return ("asc", idx) if idx >= 0 else ("desc", -idx - 1)

    @staticmethod
    def _first(memories: list[Memory]) -> tuple[str, ChatMessage] | None:
        return (memories[0].id, memory_message(memories[0])) if memories else None

    # -- sync API ------------------------------------------------------------------------------------------

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the key's messages with `messages`."""
        client = self._sync()
        session_id = self._sessions.ensure(client, self.agent_id, key)
        old = [m.id for m in read_memories(client, self._options(key))]
        if messages:
            client.add_memories([self._request(session_id, m) for m in messages])
        delete_ids(client, old)

    def get_messages(self, key: str) -> list[ChatMessage]:
        """The key's messages, oldest first ([] for an unknown key)."""
        return [memory_message(m) for m in read_memories(self._sync(), self._options(key))]

    def add_message(self, key: str, message: ChatMessage) -> None:
        """Append a message to the key's conversation."""
        client = self._sync()
        session_id = self._sessions.ensure(client, self.agent_id, key)
        client.add_memory(self._request(session_id, message))

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Delete the key's messages and return them (None when it had none)."""
        client = self._sync()
        memories = read_memories(client, self._options(key))
        if not memories:
            return None
        delete_ids(client, [m.id for m in memories])
        return [memory_message(m) for m in memories]

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the message at position `idx` (negative counts from the end); None when out of range."""
        client = self._sync()
        order, offset = self._position(idx)
        found = self._first(read_memories(client, self._options(key, order), offset=offset, limit=1))
        if found is None:
            return None
        delete_ids(client, [found[0]])
        return found[1]

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Delete and return the newest message (None when there is none)."""
        return self.delete_message(key, -1)

    def get_keys(self) -> list[str]:
        """Every key holding at least one message, in its original spelling, oldest key first."""
        return list_keys(self._sync(), self.agent_id, CHAT_EVENT_TYPE)

    # -- async API (native: awaits the async client, never blocks the event loop) ---------------------------

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Async `set_messages`."""
        client = self._binding.aclient
        session_id = await self._sessions.aensure(client, self.agent_id, key)
        old = [m.id for m in await aread_memories(client, self._options(key))]
        if messages:
            await client.add_memories([self._request(session_id, m) for m in messages])
        await adelete_ids(client, old)

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        """Async `get_messages`."""
        return [memory_message(m) for m in await aread_memories(self._binding.aclient, self._options(key))]

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        """Async `add_message` (LlamaIndex names it `async_add_message`)."""
        client = self._binding.aclient
        session_id = await self._sessions.aensure(client, self.agent_id, key)
        await client.add_memory(self._request(session_id, message))

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        """Async `delete_messages`."""
        client = self._binding.aclient
        memories = await aread_memories(client, self._options(key))
        if not memories:
            return None
        await adelete_ids(client, [m.id for m in memories])
        return [memory_message(m) for m in memories]

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Async `delete_message`."""
        client = self._binding.aclient
        order, offset = self._position(idx)
        found = self._first(await aread_memories(client, self._options(key, order), offset=offset, limit=1))
        if found is None:
            return None
        await adelete_ids(client, [found[0]])
        return found[1]

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        """Async `delete_last_message`."""
        return await self.adelete_message(key, -1)

    async def aget_keys(self) -> list[str]:
        """Async `get_keys`."""
        return await alist_keys(self._binding.aclient, self.agent_id, CHAT_EVENT_TYPE)
