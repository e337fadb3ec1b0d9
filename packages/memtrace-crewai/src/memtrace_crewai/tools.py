"""memtrace as CrewAI tools: remember, recall, search, decide.

Each tool is a `crewai.tools.BaseTool` bound to one agent. They write into the same partition as
`MemtraceMemory`, so what an agent remembers with a tool is in the crew's memory too (and the other way
round), and every memory is an ordinary memtrace memory for any other client.
"""

from __future__ import annotations

import asyncio
from typing import Any

from crewai.memory.types import MemoryRecord
from crewai.memory.utils import join_scope_paths, sanitize_scope_name
from crewai.tools import BaseTool
from pydantic import BaseModel, Field

from memtrace import Memory, Memtrace, check_id

from ._client import agent_id_for_role
from ._records import visible
from .analysis import HeuristicAnalyzer, StoreView
from .storage import MemtraceStorage

_HEURISTICS = HeuristicAnalyzer()
_NO_STORE_VIEW = StoreView(existing_scopes=lambda: ["/"], existing_categories=lambda: [])


def _line(memory: Memory | None, record: MemoryRecord, score: float | None = None) -> str:
    when = (
        f"{memory.time:%Y-%m-%d %H:%M} UTC"
        if memory is not None
        else f"{record.created_at:%Y-%m-%d %H:%M} UTC"
    )
    who = f" {memory.agent_id}:" if memory is not None else ""
    rank = f" (relevance {score:.2f})" if score is not None else ""
    text = f"- [{when}]{who}{rank} {record.content}"
    reasoning = record.metadata.get("reasoning")
    if reasoning:
        text += f"\n  reasoning: {reasoning}"
    return text


class _MemtraceTool(BaseTool):
    """What every memtrace tool knows: where to write, as whom, and what it may read."""

    storage: Any = Field(exclude=True, description="The MemtraceStorage the tool reads and writes.")
    agent_id: str = Field(description="memtrace agent the tool writes as.")
    session_id: str | None = Field(default=None, description="memtrace session; default the crew run.")
    write_scope: str = Field(default="/", description="CrewAI scope of memories the tool writes.")
    read_scope: str = Field(default="/", description="CrewAI scope the tool reads from.")

    def _memtrace(self) -> MemtraceStorage:
        return self.storage  # type: ignore[no-any-return]

    async def _arun(self, **kwargs: Any) -> str:
        # memtrace calls block (SQLite or HTTP), so async agents run them off the event loop.
        return await asyncio.to_thread(self._run, **kwargs)


class RememberArgs(BaseModel):
    content: str = Field(description="The fact, observation or result to remember, in plain words.")
    importance: float | None = Field(
        default=None, ge=0, le=1, description="0..1; leave empty to let memtrace judge from the text."
    )
    categories: list[str] | None = Field(default=None, description="Optional labels, e.g. ['pricing'].")


class MemtraceRememberTool(_MemtraceTool):
    """Store a memory the whole crew can recall later."""

    name: str = "memtrace_remember"
    description: str = (
        "Store a memory. Use this to record facts, results, observations or anything the crew should "
        "remember later, also in future runs."
    )
    args_schema: type[BaseModel] = RememberArgs

    def _run(self, content: str, importance: float | None = None, categories: list[str] | None = None) -> str:
        if not content.strip():
            return "Nothing to remember: the content is empty."
        if importance is None:
            importance = _HEURISTICS.analyze(content, _NO_STORE_VIEW).importance
        record = MemoryRecord(
            content=content, scope=self.write_scope, categories=list(categories or []), importance=importance
        )
        self._memtrace().save_records([record], agent_id=self.agent_id, session_id=self.session_id)
        return f"Remembered: {content}"


class RecallArgs(BaseModel):
    since: str = Field(default="24h", description="How far back: relative like 30m, 24h, 7d, or ISO-8601.")
    limit: int = Field(default=20, ge=1, le=200, description="At most this many memories.")
    only_mine: bool = Field(default=False, description="Only memories this agent wrote.")


class MemtraceRecallTool(_MemtraceTool):
    """The crew's most recent memories, newest first."""

    name: str = "memtrace_recall"
    description: str = (
        "Recall recent memories of the crew, newest first, within a time window (default the last 24 hours). "
        "Use it to catch up on what happened; use memtrace_search to look something up."
    )
    args_schema: type[BaseModel] = RecallArgs

    def _run(self, since: str = "24h", limit: int = 20, only_mine: bool = False) -> str:
        found = self._memtrace().recent(
            since=since,
            agent_id=self.agent_id if only_mine else None,
            scope_prefix=self.read_scope,
            limit=limit,
        )
        lines = [
            _line(memory, record)
            for memory, record in found
            if visible(record, source=None, include_private=False)
        ]
        return "\n".join(lines) if lines else f"No memories in the last {since}."


class SearchArgs(BaseModel):
    query: str = Field(description="What to look for, in keywords or a question.")
    limit: int = Field(default=10, ge=1, le=100, description="At most this many memories.")


class MemtraceSearchTool(_MemtraceTool):
    """Ranked keyword search over the crew's memories, at any age."""

    name: str = "memtrace_search"
    description: str = (
        "Search the crew's memories by keywords, most relevant first, however old they are. Use this to find "
        "earlier results, facts and decisions."
    )
    args_schema: type[BaseModel] = SearchArgs

    def _run(self, query: str, limit: int = 10) -> str:
        hits = self._memtrace().search_text(query, scope_prefix=self.read_scope, limit=limit)
        lines = [_line(None, record, score) for record, score in hits]
        return "\n".join(lines) if lines else f"No memories match {query!r}."


class DecideArgs(BaseModel):
    decision: str = Field(description="What was decided.")
    reasoning: str = Field(description="Why: the facts and trade-offs behind the decision.")


class MemtraceDecideTool(_MemtraceTool):
    """Record a decision with its reasoning, as a memtrace decision memory."""

    name: str = "memtrace_decide"
    description: str = (
        "Record a decision and the reasoning behind it, so the crew (and later runs) can follow and "
        "revisit it."
    )
    args_schema: type[BaseModel] = DecideArgs

    def _run(self, decision: str, reasoning: str) -> str:
        if not decision.strip():
            return "Nothing recorded: the decision is empty."
        record = MemoryRecord(
            content=decision,
            scope=self.write_scope,
            categories=["decision"],
            metadata={"reasoning": reasoning},
            importance=_HEURISTICS.important_importance,
        )
        self._memtrace().save_records(
            [record],
            agent_id=self.agent_id,
            session_id=self.session_id,
            memory_type="decision",
            event_type="decision",
        )
        return f"Decision recorded: {decision}"


def memtrace_tools(
    target: Any = None,
    *,
    agent_id: str | None = None,
    agent_role: str | None = None,
    session_id: str | None = None,
    crew_id: str | None = None,
    namespace: str = "crewai",
) -> list[BaseTool]:
    """The four memtrace tools for one agent: remember, recall, search, decide.

    Args:
        target: a `MemtraceMemory` (the tools share its partition and root scope), a `MemtraceStorage`, a
            `memtrace.Memtrace` client, or None for `Memtrace.from_env()`.
        agent_id: memtrace agent the tools write as. Default: derived from `agent_role`, else the memory's.
        agent_role: the CrewAI role; memories are filed under ``<root>/agent/<role>`` as CrewAI does.
        session_id: memtrace session for writes; default the crew run in progress.
        crew_id, namespace: the partition, when `target` is a client (ignored otherwise).
    """
    from .memory import MemtraceMemory

    if isinstance(target, MemtraceMemory):
        storage = target.memtrace_storage
        root = target.root_scope or "/"
    elif isinstance(target, MemtraceStorage):
        storage, root = target, "/"
    elif target is None or isinstance(target, Memtrace):
        storage, root = MemtraceStorage(target, namespace=namespace, crew_id=crew_id), "/"
    else:
        raise TypeError(
            f"memtrace_tools takes a MemtraceMemory, MemtraceStorage or memtrace.Memtrace, not {type(target).__name__}"
        )
    if agent_id is not None:
        agent = check_id(agent_id, "agent_id")
    elif agent_role:
        agent = agent_id_for_role(agent_role)
    else:
        agent = storage.agent_id
    write_scope = join_scope_paths(root, f"agent/{sanitize_scope_name(agent_role)}") if agent_role else root
    if session_id is not None:
        check_id(session_id, "session_id")
    common: dict[str, Any] = {
        "storage": storage,
        "agent_id": agent,
        "session_id": session_id,
        "write_scope": write_scope,
        "read_scope": root,
    }
    return [
        MemtraceRememberTool(**common),
        MemtraceRecallTool(**common),
        MemtraceSearchTool(**common),
        MemtraceDecideTool(**common),
    ]
