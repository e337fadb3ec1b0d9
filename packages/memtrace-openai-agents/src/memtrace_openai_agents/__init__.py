"""OpenAI Agents SDK integration for memtrace.

- `MemtraceSession`: the SDK's `Session` protocol, persisted in memtrace (every item, in order).
- `memtrace_tools`: remember / recall / search / decide / forget function tools.
- `create_memtrace_tools` and `await MemtraceSession.create(...)`: the original Memtrace integration's API.
- `memtrace_instructions`: dynamic instructions that append the session's memory context.
"""

from __future__ import annotations

from .instructions import memtrace_instructions
from .items import SESSION_ITEM_TAG
from .session import MemtraceSession
from .tools import create_memtrace_tools, memtrace_tools

__all__ = [
    "SESSION_ITEM_TAG",
    "MemtraceSession",
    "create_memtrace_tools",
    "memtrace_instructions",
    "memtrace_tools",
]
