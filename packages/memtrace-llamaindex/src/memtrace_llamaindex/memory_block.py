"""`MemtraceMemoryBlock`: long-term memory for LlamaIndex's `Memory`, recalled by memtrace's ranked search.

`Memory` hands a block the messages it flushes out of its short-term queue (`_aput`) and asks every block for
content before each LLM call (`_aget`). This block stores the flushed messages as memtrace memories and, on
each call, searches memtrace (BM25 keyword ranking, then recency and importance) with the text of the latest
messages, so the facts that matter to the current turn come back, however long ago they were said.
"""

from __future__ import annotations

import uuid
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.memory.memory import BaseMemoryBlock

from memtrace import AddMemoryRequest, Memory, SearchQuery, check_id
from memtrace.operations import AddMemories, SearchMemories

from ._client import AnyClient, ClientBinding, ClientBound, session_for_key
from ._messages import message_text

DEFAULT_AGENT_ID = "llamaindex"
FLUSHED_EVENT_TYPE = "chat_message"
"""Event type of the flushed messages this block stores."""
ROLE_FIELD = "role"
SESSION_FIELD = "llamaindex_session_id"
DEFAULT_RECALL_TYPES = ["episodic", "decision", "entity"]
"""What recall searches by default: everything but ``session`` memories, which are short-term conversation
turns (the chat stores' messages), already in the context as chat history."""


class MemtraceMemoryBlock(ClientBound, BaseMemoryBlock[str]):
    """A `BaseMemoryBlock` that recalls the `k` most relevant long-term memories from memtrace.

    ``Memory.from_defaults(session_id=..., memory_blocks=[MemtraceMemoryBlock(client)], ...)``

    - Recall: the text of the last `query_messages` messages (the newest user turn included) is the search
      query; the top `k` results are rendered one per line, most relevant first.
    - Store: each flushed message with text becomes an ``episodic`` memory (content = its text, role in
      metadata) for `agent_id`, in the memtrace session of the `Memory`'s session id.
    - `agent_id`: whose memories are searched and written. None searches every agent in the organisation
      (facts your other agents stored with `remember` or `decide` too) and writes as ``"llamaindex"``.
    - `session_scoped`: recall only what was stored from the same `Memory` session (default: all sessions,
      which is what makes the memory long-term).
    """

    name: str = Field(default="memtrace", description="The name of the memory block.")
    agent_id: str | None = Field(default=None, description="memtrace agent to search and write as.")
    k: int = Field(default=5, ge=1, le=1000, description="How many memories to recall.")
    query_messages: int = Field(
        default=1, ge=1, description="How many of the latest messages form the query."
    )
    memory_types: list[str] = Field(default_factory=lambda: list(DEFAULT_RECALL_TYPES))
    session_scoped: bool = Field(default=False, description="Recall only from the current Memory session.")

    _binding: ClientBinding = PrivateAttr(default_factory=ClientBinding)

    def __init__(
        self,
        client: AnyClient | None = None,
        *,
        name: str = "memtrace",
        agent_id: str | None = None,
        k: int = 5,
        **data: Any,
    ) -> None:
        if agent_id is not None:
            check_id(agent_id, "agent_id")
        super().__init__(name=name, agent_id=agent_id, k=k, **data)
        self._binding = ClientBinding(client)

    @property
    def client(self) -> AnyClient:
        """The memtrace client this block reads and writes through."""
        return self._binding.client

    @property
    def writer_agent_id(self) -> str:
        """The agent flushed messages are stored as."""
        return self.agent_id or DEFAULT_AGENT_ID

    # -- recall --------------------------------------------------------------------------------------------

    def _query_text(self, messages: list[ChatMessage]) -> str:
        recent = [message_text(m) for m in messages if m.role != MessageRole.SYSTEM][-self.query_messages :]
        return " ".join(t for t in recent if t.strip())

    @staticmethod
    def _render(memory: Memory) -> str:
        role = (memory.metadata or {}).get(ROLE_FIELD)
        when = memory.time.strftime("%Y-%m-%d")
        who = f"{role}: " if isinstance(role, str) and role else ""
        return f"- [{when}] {who}{memory.content}"

    async def _aget(
        self, messages: list[ChatMessage] | None = None, session_id: str | None = None, **block_kwargs: Any
    ) -> str:
        """The memories most relevant to the latest messages, one per line ("" when nothing matches)."""
        query = self._query_text(messages or [])
        if not query:
            return ""
        result = await self._binding.bridge.aexecute(
            SearchMemories(
                SearchQuery(
                    query=query,
                    agent_id=self.agent_id,
                    session_id=session_for_key(session_id) if self.session_scoped and session_id else None,
                    memory_types=self.memory_types or None,
                    limit=self.k,
                )
            )
        )
        return "\n".join(self._render(m) for m in result.results)

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        """Drop the least relevant lines (the last ones) until roughly `tokens_to_truncate` tokens are gone
        (4 characters per token), instead of dropping the whole block."""
        lines = content.splitlines()
        budget = tokens_to_truncate * 4
        while lines and budget > 0:
            budget -= len(lines.pop()) + 1
        return "\n".join(lines) or None

    # -- store ---------------------------------------------------------------------------------------------

    def _request(self, message: ChatMessage) -> AddMemoryRequest | None:
        text = message_text(message)
        if not text.strip() or message.role == MessageRole.SYSTEM:
            return None
        # Memory.aput tags each flushed message with its session id (BaseMemoryBlock.aput).
        memory_session = message.additional_kwargs.get("session_id")
        metadata: dict[str, Any] = {ROLE_FIELD: message.role.value}
        if isinstance(memory_session, str) and memory_session:
            metadata[SESSION_FIELD] = memory_session
        return AddMemoryRequest(
            agent_id=self.writer_agent_id,
            session_id=session_for_key(memory_session)
            if isinstance(memory_session, str) and memory_session
            else None,
            content=text,
            memory_type="episodic",
            event_type=FLUSHED_EVENT_TYPE,
            metadata=metadata,
            # A user may say the same thing twice; both are real turns, so content dedup must not drop one.
            dedup_key=uuid.uuid4().hex,
        )

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Store the flushed messages that carry text, in one batch."""
        requests = [r for r in (self._request(m) for m in messages) if r is not None]
        if requests:
            await self._binding.bridge.aexecute(AddMemories(requests))
