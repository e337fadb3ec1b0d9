"""`memtrace_tools`: remember, recall, search, decide and forget as LangChain tools an agent can call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field

from memtrace import (
    AddMemoryRequest,
    ConflictError,
    ListOptions,
    Memory,
    NotFoundError,
    SearchQuery,
    ValidationError,
    check_id,
    id_for_key,
)
from memtrace.bridge import AnyMemtrace, ClientBridge, Plan
from memtrace.operations import AddMemory, DeleteMemory, GetMemory, ListMemories, SearchMemories

MemoryTypeArg = Literal["episodic", "decision", "entity", "session"]


class RememberArgs(BaseModel):
    content: str = Field(description="What to remember: one self-contained fact, event or observation.")
    memory_type: MemoryTypeArg = Field(
        default="episodic",
        description="episodic: something that happened; entity: a fact about a person or thing (e.g. a "
        "preference); decision: a choice made; session: conversation working memory.",
    )
    tags: list[str] | None = Field(
        default=None, description="Optional labels for later filtering, e.g. ['preferences', 'ui']."
    )
    importance: float | None = Field(default=None, ge=0, le=1, description="Optional importance from 0 to 1.")


class RecallArgs(BaseModel):
    since: str = Field(default="24h", description="How far back to look: 30m, 2h, 7d, or an ISO-8601 time.")
    memory_type: MemoryTypeArg | None = Field(default=None, description="Only memories of this type.")
    limit: int = Field(default=20, ge=1, le=200, description="At most this many memories, newest first.")


class SearchArgs(BaseModel):
    query: str = Field(description="Keywords to look for, e.g. 'dark mode preference'.")
    memory_types: list[MemoryTypeArg] | None = Field(default=None, description="Only these memory types.")
    tags: list[str] | None = Field(default=None, description="Only memories carrying all of these tags.")
    limit: int = Field(default=5, ge=1, le=100, description="At most this many results, best first.")


class DecideArgs(BaseModel):
    decision: str = Field(description="The decision, stated plainly.")
    reasoning: str = Field(description="Why this decision was made.")


class ForgetArgs(BaseModel):
    memory_id: str = Field(description="The id of the memory to delete (starts with 'mem_').")


def format_memory(memory: Memory) -> str:
    """One line per memory, with the id (so the model can forget it) and the score on search results."""
    line = f"- {memory.id} [{memory.time:%Y-%m-%d %H:%M}] {memory.memory_type}/{memory.event_type}: {memory.content}"
    reasoning = (memory.metadata or {}).get("reasoning") if memory.memory_type == "decision" else None
    if reasoning:
        line += f" (reasoning: {reasoning})"
    if memory.score is not None:
        line += f" (score {memory.score:.2f})"
    return line


class _MemoryTools:
    """The plans behind the tools, bound to one agent and optionally one session."""

    def __init__(self, agent_id: str, session_id: str | None) -> None:
        self.agent_id = agent_id
        self.session_id = session_id

    def remember(
        self,
        content: str,
        memory_type: MemoryTypeArg = "episodic",
        tags: list[str] | None = None,
        importance: float | None = None,
    ) -> Plan[str]:
        request = AddMemoryRequest(
            agent_id=self.agent_id,
            session_id=self.session_id,
            content=content,
            memory_type=memory_type,
            tags=tags,
            importance=importance,
        )
        try:
            memory = yield AddMemory(request)
        except ConflictError:
            return "Already remembered: an identical memory was stored within the last 24 hours."
        return f"Remembered as {memory.id}."

    def recall(
        self, since: str = "24h", memory_type: MemoryTypeArg | None = None, limit: int = 20
    ) -> Plan[str]:
        result = yield ListMemories(
            ListOptions(
                agent_id=self.agent_id,
                session_id=self.session_id,
                memory_type=memory_type,
                since=since,
                limit=limit,
                order="desc",
            ),
        )
        if not result.memories:
            return f"No memories since {since}."
        return "\n".join(format_memory(m) for m in result.memories)

    def search(
        self,
        query: str,
        memory_types: list[MemoryTypeArg] | None = None,
        tags: list[str] | None = None,
        limit: int = 5,
    ) -> Plan[str]:
        # Not limited to the session: search is how an agent finds what it learned in earlier conversations.
        result = yield SearchMemories(
            SearchQuery(
                query=query,
                agent_id=self.agent_id,
                memory_types=list(memory_types) if memory_types else None,
                tags=tags,
                limit=limit,
            ),
        )
        if not result.results:
            return f"No memories match {query!r}."
        return "\n".join(format_memory(m) for m in result.results)

    def decide(self, decision: str, reasoning: str) -> Plan[str]:
        memory = yield AddMemory(
            AddMemoryRequest(
                agent_id=self.agent_id,
                session_id=self.session_id,
                content=decision,
                memory_type="decision",
                event_type="decision",
                metadata={"reasoning": reasoning},
            ),
        )
        return f"Decision recorded as {memory.id}."

    def forget(self, memory_id: str) -> Plan[str]:
        try:
            memory = yield GetMemory(memory_id)
            # The tools act for one agent: they must not delete another agent's memories.
            if memory.agent_id != self.agent_id:
                raise NotFoundError(f"memory {memory_id} not found")
            yield DeleteMemory(memory_id)
        except NotFoundError:
            return f"No memory {memory_id} to forget."
        return f"Forgot {memory_id}."


def _as_tool_errors(plan: Plan[str]) -> Plan[str]:
    """Bad arguments become a ToolException, which the agent sees as the tool's answer and can correct."""
    try:
        return (yield from plan)
    except ValidationError as exc:
        raise ToolException(f"Invalid arguments: {exc.message}") from exc


def _tool(
    bridge: ClientBridge,
    name: str,
    description: str,
    args_schema: type[BaseModel],
    plan_fn: Callable[..., Plan[str]],
) -> StructuredTool:
    # Both faces for either kind of client: the bridge serves sync agents with an AsyncMemtrace too.
    def func(**kwargs: Any) -> str:
        return bridge.run(_as_tool_errors(plan_fn(**kwargs)))

    async def coroutine(**kwargs: Any) -> str:
        return await bridge.arun(_as_tool_errors(plan_fn(**kwargs)))

    return StructuredTool.from_function(
        func=func,
        coroutine=coroutine,
        name=name,
        description=description,
        args_schema=args_schema,
        infer_schema=False,
        handle_tool_error=True,
    )


def memtrace_tools(client: AnyMemtrace, agent_id: str, session_id: str | None = None) -> list[BaseTool]:
    """Memory tools for a LangChain agent: ``memtrace_remember``, ``memtrace_recall``, ``memtrace_search``,
    ``memtrace_decide`` and ``memtrace_forget``.

    Args:
        client: A `memtrace.Memtrace` or `memtrace.AsyncMemtrace`; either serves sync and async agents
            (through `memtrace.bridge.ClientBridge`).
        agent_id: The memtrace agent the tools read and write for. ``forget`` only deletes its memories.
        session_id: If given (any key; mapped with `memtrace.id_for_key`), new memories are filed under this
            session and ``recall`` lists only this session. ``search`` always covers all of the agent's memories.

    Bad arguments (an invalid tag, an unknown time format) come back to the model as the tool's answer, so it
    can correct itself; a duplicate memory within 24 hours is reported, not stored twice.
    """
    bridge = ClientBridge(client, owner="memtrace_tools")
    check_id(agent_id, "agent_id")
    plans = _MemoryTools(agent_id, id_for_key(session_id) if session_id else None)
    return [
        _tool(
            bridge,
            "memtrace_remember",
            "Store a memory. Use this to record actions, observations, events, facts about the user, or any "
            "information you should remember later.",
            RememberArgs,
            plans.remember,
        ),
        _tool(
            bridge,
            "memtrace_recall",
            "List recent memories, newest first, within a time window (default the last 24 hours).",
            RecallArgs,
            plans.recall,
        ),
        _tool(
            bridge,
            "memtrace_search",
            "Search all memories by keywords; returns the most relevant first, each with its id.",
            SearchArgs,
            plans.search,
        ),
        _tool(
            bridge,
            "memtrace_decide",
            "Record a decision together with its reasoning, so it can be explained and revisited later.",
            DecideArgs,
            plans.decide,
        ),
        _tool(
            bridge,
            "memtrace_forget",
            "Delete a memory by its id (from memtrace_recall or memtrace_search), e.g. when it is wrong or "
            "the user asks to forget it.",
            ForgetArgs,
            plans.forget,
        ),
    ]


__all__ = ["memtrace_tools"]
