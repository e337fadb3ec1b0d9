"""`memtrace_instructions`: dynamic agent instructions that carry the session's memory context.

The SDK calls an ``instructions`` callable at the start of every turn with ``(run_context, agent)``. This
one returns the base instructions plus memtrace's token-budgeted session context (recent actions, decisions,
errors), so an agent starts each run knowing what happened, even in a fresh process.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from agents import Agent, RunContextWrapper

from memtrace import ContextOptions, NotFoundError, id_for_key
from memtrace.operations import GetSessionContext

from ._client import AnyMemtrace, ClientBridge

InstructionsFunction: TypeAlias = Callable[[RunContextWrapper[Any], Agent[Any]], Awaitable[str]]
BaseInstructions: TypeAlias = (
    str | Callable[[RunContextWrapper[Any], Agent[Any]], str | Awaitable[str]] | None
)

DEFAULT_CONTEXT_TOKENS = 1000

DEFAULT_CONTEXT_TYPES: tuple[str, ...] = ("episodic", "decision", "entity")
"""Facts, actions and decisions; not the ``session`` memories that hold the conversation turns themselves."""


def memtrace_instructions(
    base_instructions: BaseInstructions,
    client: AnyMemtrace,
    session_id: str,
    max_tokens: int = DEFAULT_CONTEXT_TOKENS,
    *,
    since: str | None = None,
    include_types: Sequence[str] | None = DEFAULT_CONTEXT_TYPES,
) -> InstructionsFunction:
    """Instructions for ``Agent(instructions=...)`` that append the memtrace session context.

    Args:
        base_instructions: The agent's own instructions: a string, or the SDK's ``(context, agent)``
            callable (sync or async), which is called first.
        client: An `AsyncMemtrace` or `Memtrace`.
        session_id: The session whose memories to show; any string, mapped with `memtrace.id_for_key` like
            `MemtraceSession` and `memtrace_tools`.
        max_tokens: Budget for the context block, in estimated tokens; the newest memories are kept.
        since: Time window (``"2h"``, ``"7d"`` or ISO-8601); memtrace's default is 24 hours.
        include_types: Memory types to show. The default leaves out ``session`` memories, the conversation
            turns a `MemtraceSession` stores and already replays to the model; ``None`` shows every type.

    With no memories (or no session yet) the base instructions are returned unchanged.
    """
    bridge = ClientBridge(client, owner="memtrace_instructions")
    memtrace_session_id = id_for_key(session_id)
    options = ContextOptions(
        max_tokens=max_tokens,
        since=since,
        include_types=list(include_types) if include_types is not None else None,
    )

    async def instructions(run_context: RunContextWrapper[Any], agent: Agent[Any]) -> str:
        base = await _resolve(base_instructions, run_context, agent)
        try:
            context = await bridge.aexecute(GetSessionContext(memtrace_session_id, options))
        except NotFoundError:
            return base  # nothing has been stored in this session yet
        if context.memory_count == 0:
            return base
        block = context.context.strip()
        return f"{base}\n\n{block}" if base else block

    return instructions


async def _resolve(base: BaseInstructions, run_context: RunContextWrapper[Any], agent: Agent[Any]) -> str:
    if base is None:
        return ""
    if isinstance(base, str):
        return base
    result = base(run_context, agent)
    if inspect.isawaitable(result):
        result = await result
    return result or ""
