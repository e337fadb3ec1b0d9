"""memtrace: plain-text, temporal, structured memory for AI agents. No embeddings required.

    from memtrace import Memtrace

    with Memtrace.open("./data") as mt:
        mt.remember("agent_1", "User prefers dark mode")
        print(mt.recall("agent_1").memories[0].content)

Every name memtrace-sdk 0.2.0 exports is exported here too, so code written for it runs unchanged.
"""

from .bridge import ClientBridge
from .client import AsyncMemtrace, Memtrace
from .context import estimate_tokens, render_session_context
from .dedup import dedup_key
from .errors import (
    AuthenticationError,
    ConflictError,
    MemtraceError,
    NoArcInstanceError,
    NotFoundError,
    PermissionDeniedError,
    QueryTooExpensiveError,
    RateLimitedError,
    ServiceUnavailableError,
    StorageFullError,
    StoreCorruptedError,
    StoreError,
    ValidationError,
)
from .forget import ForgetReceipt, ForgetRequest
from .ids import id_for_key
from .limits import InputLimits
from .models import (
    AddMemoryRequest,
    Agent,
    AgentList,
    AgentStats,
    BatchResult,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    MemoryList,
    MemoryType,
    RegisterAgentRequest,
    SearchQuery,
    SearchResult,
    Session,
    SessionContext,
    SessionList,
)
from .stores.arc.config import ArcConfig
from .validation import check_id

__version__ = "0.1.0"

__all__ = [
    "AddMemoryRequest",
    "Agent",
    "AgentList",
    "AgentStats",
    "ArcConfig",
    "AsyncMemtrace",
    "AuthenticationError",
    "BatchResult",
    "ClientBridge",
    "ConflictError",
    "ContextOptions",
    "CreateSessionRequest",
    "ForgetReceipt",
    "ForgetRequest",
    "InputLimits",
    "ListOptions",
    "Memory",
    "MemoryList",
    "MemoryType",
    "Memtrace",
    "MemtraceError",
    "NoArcInstanceError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryTooExpensiveError",
    "RateLimitedError",
    "RegisterAgentRequest",
    "SearchQuery",
    "SearchResult",
    "ServiceUnavailableError",
    "Session",
    "SessionContext",
    "SessionList",
    "StorageFullError",
    "StoreCorruptedError",
    "StoreError",
    "ValidationError",
    "__version__",
    "check_id",
    "dedup_key",
    "estimate_tokens",
    "id_for_key",
    "render_session_context",
]
