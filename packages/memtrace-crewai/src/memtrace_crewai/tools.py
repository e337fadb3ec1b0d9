"""memtrace as CrewAI tools: remember, recall, search, decide, recall_facts.

Names, descriptions, argument schemas and the memtrace calls come from `memtrace.tools`, the one definition the
MCP server and the other adapters render too: an argument core adds there reaches these tools' schemas and
their calls with no change here. What is CrewAI's own:

- memories are crew memory: a tool's writes are filed like `MemtraceMemory`'s records (in the partition, under
  the agent's scope ``<root>/agent/<role>``, in the crew run's session; ``tags`` become CrewAI categories),
  so what an agent remembers with a tool is in the crew's memory too, and the other way round;
- reads cover the whole crew (every agent, below the memory's root scope), not only the calling agent:
  ``only_mine`` narrows them; private records stay hidden;
- the session is the crew run's, so the model is not asked for one; ``query`` is required for search, and
  recall, search and recall_facts hand the model fewer memories (20, 10 and 20) than the MCP tools, as their
  text goes into the prompt;
- recall_facts lists the current value of the crew's keyed facts (remember with a ``key``; a later value
  supersedes the earlier one), like MCP's and the other adapters' tool of that name (issue #17);
- results are text for the agent (one line per memory, with time, agent and relevance), as CrewAI tools
  return; mistakes the model can correct come back to it as the tool's answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, ClassVar

from crewai.memory.types import MemoryRecord
from crewai.memory.utils import join_scope_paths, sanitize_scope_name
from crewai.tools import BaseTool
from pydantic import BaseModel, Field, create_model, model_validator

from memtrace import ConflictError, Memory, MemoryList, Memtrace, SearchResult, ValidationError, check_id
from memtrace.bridge import ClientBridge, map_operations
from memtrace.operations import AddMemory, ListFacts, ListMemories, Operation, SearchMemories
from memtrace.tools import MEMORY_TOOLS, MemoryTool, ToolScope

from ._client import agent_id_for_role
from ._records import EVENT_TYPE, memory_to_record, visible
from .analysis import HeuristicAnalyzer, StoreView
from .storage import PAGE, MemtraceStorage, _under

_HEURISTICS = HeuristicAnalyzer()
_NO_STORE_VIEW = StoreView(existing_scopes=lambda: ["/"], existing_categories=lambda: [])

RECALL_LIMIT = 20
SEARCH_LIMIT = 10
MAX_LIMIT = 200

_ONLY_MINE = (
    bool,
    Field(default=False, description="Only memories this agent wrote (default: the whole crew's)"),
)


def _render(tool: MemoryTool[Any]) -> MemoryTool[Any]:
    """Core's tool with CrewAI's conventions (see the module docstring); every other argument as defined."""
    if tool.name == "memtrace_remember":
        return tool.adapt(
            hide=["session_id"],
            defaults={"event_type": EVENT_TYPE},
            describe={
                "tags": "Categories for this memory, e.g. ['pricing']",
                "importance": "Importance 0.0 to 1.0; leave empty to let memtrace judge from the text",
            },
        )
    if tool.name == "memtrace_recall":
        return tool.adapt(
            description=(
                "Recall recent memories of the crew, newest first, within a time window (default the last 24 "
                "hours). Use it to catch up on what happened; use memtrace_search to look something up."
            ),
            hide=["session_id"],
            defaults={"limit": RECALL_LIMIT},
            bounds={"limit": {"le": MAX_LIMIT}},
            describe={"limit": f"At most this many memories, newest first. Default: {RECALL_LIMIT}"},
        )
    if tool.name == "memtrace_search":
        return tool.adapt(
            description=(
                "Search the crew's memories by keywords, most relevant first, however old they are. Use this "
                "to find earlier results, facts and decisions."
            ),
            require=["query"],
            defaults={"limit": SEARCH_LIMIT},
            bounds={"limit": {"le": MAX_LIMIT}},
            describe={
                "query": "What to look for, in keywords or a question",
                "tags": "Only memories in all of these categories",
                "limit": f"At most this many memories, best first. Default: {SEARCH_LIMIT}",
            },
        )
    if tool.name == "memtrace_recall_facts":
        return tool.adapt(
            description=(
                "Recall the crew's facts: the current value of each fact remembered with a key (e.g. "
                "customer:acme/plan), newest first. A value replaced by a later one is not returned."
            ),
            defaults={"limit": RECALL_LIMIT},
            bounds={"limit": {"le": MAX_LIMIT}},
            describe={"limit": f"At most this many facts, newest first. Default: {RECALL_LIMIT}"},
        )
    return tool


def _line(memory: Memory | None, record: MemoryRecord, score: float | None = None) -> str:
    when = (
        f"{memory.time:%Y-%m-%d %H:%M} UTC"
        if memory is not None
        else f"{record.created_at:%Y-%m-%d %H:%M} UTC"
    )
    who = f" {memory.agent_id}:" if memory is not None else ""
    if memory is not None and memory.key:
        who += f" {memory.key} ="
    rank = f" (relevance {score:.2f})" if score is not None else ""
    text = f"- [{when}]{who}{rank} {record.content}"
    reasoning = record.metadata.get("reasoning")
    if reasoning:
        text += f"\n  reasoning: {reasoning}"
    return text


class _MemtraceTool(BaseTool):
    """A memtrace tool bound to one agent of a crew: where it writes, as whom, and what it may read."""

    tool_name: ClassVar[str]
    """The core tool (`memtrace.tools.MEMORY_TOOLS`) this class renders."""

    storage: Any = Field(exclude=True, description="The MemtraceStorage the tool reads and writes.")
    definition: Any = Field(default=None, exclude=True, description="The memtrace.tools definition rendered.")
    agent_id: str = Field(description="memtrace agent the tool writes as.")
    session_id: str | None = Field(default=None, description="memtrace session; default the crew run.")
    write_scope: str = Field(default="/", description="CrewAI scope of memories the tool writes.")
    read_scope: str = Field(default="/", description="CrewAI scope the tool reads from.")

    @model_validator(mode="before")
    @classmethod
    def _from_core(cls, data: Any) -> Any:
        # Name, description and arguments come from core's definition, looked up when the tool is made.
        if isinstance(data, dict) and data.get("definition") is None:
            definition = _render(MEMORY_TOOLS[cls.tool_name])
            data = {
                "definition": definition,
                "name": definition.name,
                "description": definition.description,
                "args_schema": cls._schema(definition, ToolScope(agent_id=data.get("agent_id") or "agent")),
                **data,
            }
        return data

    @classmethod
    def _schema(cls, definition: MemoryTool[Any], scope: ToolScope) -> type[BaseModel]:
        return definition.args_model(scope)

    def _memtrace(self) -> MemtraceStorage:
        return self.storage  # type: ignore[no-any-return]

    def _scope(self) -> ToolScope:
        return ToolScope(agent_id=self.agent_id)

    def _run(self, **arguments: Any) -> str:
        tool: MemoryTool[Any] = self.definition
        bridge = ClientBridge(self._memtrace().client, owner=self.name)
        try:
            values = tool.prepare({k: v for k, v in arguments.items() if k != "only_mine"}, self._scope())
            plan = map_operations(tool.plan(values, self._scope()), self._crew_operation(arguments))
            return self._answer(values, bridge.run(plan))
        except ValidationError as exc:
            return f"Invalid arguments: {exc.message}"

    async def _arun(self, **kwargs: Any) -> str:
        # MemtraceStorage's client is sync (SQLite or HTTP), so async agents run it off the event loop.
        return await asyncio.to_thread(self._run, **kwargs)

    def _crew_operation(self, arguments: dict[str, Any]) -> Any:
        """What turns core's memtrace call into the crew's (see each tool)."""
        return lambda op: op

    def _answer(self, values: dict[str, Any], result: Any) -> str:
        raise NotImplementedError


class _WriteTool(_MemtraceTool):
    """Writes a memory filed as crew memory (`MemtraceStorage.file_request`)."""

    def _run(self, **arguments: Any) -> str:
        try:
            return super()._run(**arguments)
        except ConflictError:
            return f"Already remembered: {arguments.get('content') or arguments.get('decision')}"

    def _crew_operation(self, arguments: dict[str, Any]) -> Any:
        def file(op: Operation[Any]) -> Operation[Any]:
            if not isinstance(op, AddMemory):
                return op
            request = op.req
            decision = request.memory_type == "decision"
            if request.importance is None:
                importance = (
                    _HEURISTICS.important_importance
                    if decision
                    else _HEURISTICS.analyze(request.content, _NO_STORE_VIEW).importance
                )
                request = request.model_copy(update={"importance": importance})
            if self.session_id is not None and request.session_id is None:
                request = request.model_copy(update={"session_id": self.session_id})
            categories = list(request.tags or []) + (["decision"] if decision else [])
            return AddMemory(
                self._memtrace().file_request(request, scope=self.write_scope, categories=categories)
            )

        return file


class _ReadTool(_MemtraceTool):
    """Reads the crew's memories: the partition, below the read scope, every agent unless ``only_mine``."""

    @classmethod
    def _schema(cls, definition: MemoryTool[Any], scope: ToolScope) -> type[BaseModel]:
        core = definition.args_model(scope)
        return create_model(core.__name__, __base__=core, only_mine=_ONLY_MINE)

    def _crew_operation(self, arguments: dict[str, Any]) -> Any:
        agent = self.agent_id if arguments.get("only_mine") else None
        storage = self._memtrace()

        def narrow(op: Operation[Any]) -> Operation[Any]:
            if isinstance(op, ListMemories) and op.opts is not None:
                tags = storage.scope_filter(self.read_scope)
                return dataclasses.replace(
                    op, opts=op.opts.model_copy(update={"agent_id": agent, "tags": tags})
                )
            if isinstance(op, ListFacts):
                # Facts are keyed across the organisation: the crew's are picked out afterwards (partition,
                # scope, privacy), from a larger candidate set, as for search.
                limit = op.limit or RECALL_LIMIT
                return dataclasses.replace(op, agent_id=agent, limit=min(max(limit * 3, limit + 10), PAGE))
            if isinstance(op, SearchMemories):
                q = op.q
                limit = q.limit or SEARCH_LIMIT
                # Scope paths and privacy are checked afterwards, on a larger candidate set (as search_text).
                update = {
                    "agent_id": agent,
                    "tags": storage.scope_filter(self.read_scope, q.tags),
                    "limit": min(max(limit * 3, limit + 10), PAGE),
                }
                return SearchMemories(q.model_copy(update=update))
            return op

        return narrow


class MemtraceRememberTool(_WriteTool):
    """Store a memory the whole crew can recall later."""

    tool_name: ClassVar[str] = "memtrace_remember"

    def _run(self, **arguments: Any) -> str:
        if not str(arguments.get("content") or "").strip():
            return "Nothing to remember: the content is empty."
        return super()._run(**arguments)

    def _answer(self, values: dict[str, Any], result: Any) -> str:
        return f"Remembered: {values['content']}"


class MemtraceDecideTool(_WriteTool):
    """Record a decision with its reasoning, as a memtrace decision memory."""

    tool_name: ClassVar[str] = "memtrace_decide"

    def _run(self, **arguments: Any) -> str:
        if not str(arguments.get("decision") or "").strip():
            return "Nothing recorded: the decision is empty."
        return super()._run(**arguments)

    def _answer(self, values: dict[str, Any], result: Any) -> str:
        return f"Decision recorded: {values['decision']}"


class MemtraceRecallTool(_ReadTool):
    """The crew's most recent memories, newest first."""

    tool_name: ClassVar[str] = "memtrace_recall"

    def _answer(self, values: dict[str, Any], result: Any) -> str:
        assert isinstance(result, MemoryList)
        lines = [
            _line(memory, record)
            for memory, record in ((m, memory_to_record(m)) for m in result.memories)
            if visible(record, source=None, include_private=False)
        ]
        return "\n".join(lines) if lines else f"No memories in the last {values['since']}."


class MemtraceSearchTool(_ReadTool):
    """Ranked keyword search over the crew's memories, at any age."""

    tool_name: ClassVar[str] = "memtrace_search"

    def _answer(self, values: dict[str, Any], result: Any) -> str:
        assert isinstance(result, SearchResult)
        hits: list[tuple[MemoryRecord, float]] = []
        for memory in result.results:
            record = memory_to_record(memory)
            if _under(record.scope, self.read_scope) and visible(record, source=None, include_private=False):
                hits.append((record, max(float(memory.score or 0.0), 0.0)))
        best = max((score for _, score in hits), default=0.0)
        lines = [_line(None, r, s / best if best > 0 else 0.0) for r, s in hits[: values["limit"]]]
        return "\n".join(lines) if lines else f"No memories match {values['query']!r}."


class MemtraceRecallFactsTool(_ReadTool):
    """The current value of the crew's keyed facts, newest first."""

    tool_name: ClassVar[str] = "memtrace_recall_facts"

    def _answer(self, values: dict[str, Any], result: Any) -> str:
        assert isinstance(result, MemoryList)
        crew = set(self._memtrace().scope_filter(self.read_scope))  # the partition's and the scope's tags
        lines = [
            _line(memory, record)
            for memory, record in ((m, memory_to_record(m)) for m in result.memories)
            if crew <= set(memory.tags or ())
            and _under(record.scope, self.read_scope)
            and visible(record, source=None, include_private=False)
        ][: values["limit"]]
        return "\n".join(lines) if lines else "No facts remembered."


def memtrace_tools(
    target: Any = None,
    *,
    agent_id: str | None = None,
    agent_role: str | None = None,
    session_id: str | None = None,
    crew_id: str | None = None,
    namespace: str = "crewai",
) -> list[BaseTool]:
    """The memtrace tools for one agent, in this order: remember, recall, search, decide (the four of the first
    release) and recall_facts.

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
        MemtraceRecallFactsTool(**common),
    ]
