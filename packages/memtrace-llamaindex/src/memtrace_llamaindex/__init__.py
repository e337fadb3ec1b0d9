"""LlamaIndex integration for memtrace.

- `MemtraceChatStore`: a `BaseChatStore` for `ChatMemoryBuffer` (``chat_store_key`` = any key).
- `MemtraceDBChatStore`: an `AsyncDBChatStore` for the new ``llama_index.core.memory.Memory``.
- `MemtraceMemoryBlock`: a `BaseMemoryBlock` recalling long-term memories by ranked search.
- `ClientNotBoundError`: raised by an adapter unpickled where its client does not exist, until re-bound.
"""

from ._client import ClientNotBoundError
from .chat_store import CHAT_EVENT_TYPE, MemtraceChatStore
from .db_chat_store import MEMORY_EVENT_TYPE, MemtraceDBChatStore
from .memory_block import MemtraceMemoryBlock

__all__ = [
    "CHAT_EVENT_TYPE",
    "MEMORY_EVENT_TYPE",
    "ClientNotBoundError",
    "MemtraceChatStore",
    "MemtraceDBChatStore",
    "MemtraceMemoryBlock",
]
