"""memtrace for CrewAI: shared, durable crew memory with no embedder, no LLM and no API key.

- `MemtraceMemory`: ``Crew(memory=MemtraceMemory(client, crew_id="research"))``; recall by memtrace's ranked
  keyword search, shared by every agent of the crew and by later crews on the same data directory or server.
- `MemtraceStorage`: CrewAI's `StorageBackend` in memtrace, for CrewAI's own `Memory`;
  `use_memtrace_storage()` makes it the process-wide default (``Crew(memory=True)``).
- `memtrace_tools()`: remember / recall / search / decide as CrewAI tools.
- `HeuristicAnalyzer` (default) / `LLMAnalyzer`: how memories are extracted and filed.
"""

from .analysis import HeuristicAnalyzer, LLMAnalyzer, MemoryAnalyzer, SaveAnalysis, StoreView
from .default import restore_default_storage, use_memtrace_storage
from .memory import MemtraceMemory
from .storage import MemtraceStorage
from .tools import (
    MemtraceDecideTool,
    MemtraceRecallFactsTool,
    MemtraceRecallTool,
    MemtraceRememberTool,
    MemtraceSearchTool,
    memtrace_tools,
)

__all__ = [
    "HeuristicAnalyzer",
    "LLMAnalyzer",
    "MemoryAnalyzer",
    "MemtraceDecideTool",
    "MemtraceMemory",
    "MemtraceRecallFactsTool",
    "MemtraceRecallTool",
    "MemtraceRememberTool",
    "MemtraceSearchTool",
    "MemtraceStorage",
    "SaveAnalysis",
    "StoreView",
    "memtrace_tools",
    "restore_default_storage",
    "use_memtrace_storage",
]
