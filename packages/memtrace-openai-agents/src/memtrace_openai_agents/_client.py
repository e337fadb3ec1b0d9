"""The one piece of client plumbing the Agents SDK adapter keeps: the session row every conversation gets.

Calls go through memtrace-core's `ClientBridge` (an `AsyncMemtrace` is awaited, a sync `Memtrace` runs in a
worker thread, so the event loop never blocks).
"""

from __future__ import annotations

from memtrace import CreateSessionRequest
from memtrace.bridge import AnyMemtrace, ClientBridge
from memtrace.operations import CreateSession

__all__ = ["AnyMemtrace", "ClientBridge", "ensure_session_row"]


async def ensure_session_row(bridge: ClientBridge, session_id: str, agent_id: str, key: str) -> None:
    """Create the memtrace session row so the conversation is listable and has a context (kept if it exists).

    Session ids on memories are free-form, but `list_sessions` and `get_session_context` need the row.
    The user's original key is kept in its metadata, since `id_for_key` may have rewritten it.
    """
    await bridge.aexecute(
        CreateSession(
            CreateSessionRequest(
                id=session_id, agent_id=agent_id, metadata={"key": key, "source": "openai-agents"}
            ),
            exist_ok=True,
        )
    )
