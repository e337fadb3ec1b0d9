"""LangChain and LangGraph integration for memtrace.

- `MemtraceHistoryMiddleware`: conversation memory for LangChain 1.x agents (`create_agent`), by thread_id.
- `MemtraceChatMessageHistory`: chat history (`BaseChatMessageHistory`), sync and native async.
- `MemtraceRetriever`: ranked keyword search over memories (`BaseRetriever`).
- `memtrace_tools`: remember / recall / search / decide / forget tools for agents.
- `MemtraceStore`: LangGraph long-term memory (`langgraph.store.base.BaseStore`); needs the extra
  ``memtrace-langchain[langgraph]``, so it is imported only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .chat_history import MemtraceChatMessageHistory
from .retriever import MemtraceRetriever, memory_to_document
from .tools import memtrace_tools

if TYPE_CHECKING:
    from .middleware import MemtraceHistoryMiddleware
    from .store import MemtraceStore

__all__ = [
    "MemtraceChatMessageHistory",
    "MemtraceHistoryMiddleware",
    "MemtraceRetriever",
    "MemtraceStore",
    "memory_to_document",
    "memtrace_tools",
]


def __getattr__(name: str) -> Any:
    # LangGraph is optional: importing memtrace_langchain must work without it.
    if name == "MemtraceStore":
        from .store import MemtraceStore

        return MemtraceStore
    if name == "MemtraceHistoryMiddleware":  # needs `langchain` (agents), not only langchain-core
        from .middleware import MemtraceHistoryMiddleware

        return MemtraceHistoryMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
