"""`memtrace_tools`: function tools that let an agent remember, recall, search, decide and forget.

The four tools of the original integration keep their names and arguments (spec memtrace-api §10.1), so
prompts written for it still work. Names, descriptions and argument schemas are rendered from
`memtrace.tools`, the one definition the MCP server uses too. Two additions: `memtrace_search` takes ``query`` for ranked keyword search,
`memtrace_forget` deletes a memory by id, `memtrace_remember` takes an optional fact ``key`` (the new value
replaces the key's current one) and `memtrace_recall_facts` lists the current facts.

Unlike the original, recall and search leave out ``session`` memories (conversation turns) unless the model
asks for that type; see `DEFAULT_MEMORY_TYPES`.

Errors the model can act on (bad arguments, an unknown id, a duplicate) come back to it as a JSON
``{"error": ...}`` tool result instead of failing the run; anything else (memtrace unreachable) raises.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
from agents import FunctionTool
from agents.tool_context import ToolContext
from pydantic import BaseModel

from memtrace import (
    ConflictError,
    NotFoundError,
    SearchQuery,
    ValidationError,
    id_for_key,
)
from memtrace.operations import DeleteMemory, GetMemory, ListFacts, SearchMemories
from memtrace.tools import MEMORY_TOOLS, MemoryTool, ToolScope

from ._client import AnyMemtrace, ClientBridge, ensure_session_row

MAX_TOOL_LIMIT = 200
"""The most memories one recall/search hands the model (as in the original integration)."""

DEFAULT_TOOL_LIMIT = 50

DEFAULT_MEMORY_TYPES = ("episodic", "decision", "entity")
"""What recall and search look at unless the model names a type. ``session`` memories are conversation turns
(`MemtraceSession` stores every item as one), which the model already sees; searching them by default would
bury the facts under the chat, including earlier tool results. Ask for ``session`` explicitly to search them."""


def _dump(model: BaseModel) -> str:
    return json.dumps(model.model_dump(mode="json"), default=str)


def _error(message: str, **extra: Any) -> str:
    return json.dumps({"error": message, **extra})


def _required(args: dict[str, Any], name: str) -> Any:
    value = args.get(name)
    if value is None or value == "":
        raise ValidationError(f"{name} is required", name)
    return value


def _limit(args: dict[str, Any]) -> int:
    value = args.get("limit")
    if value is None:
        return DEFAULT_TOOL_LIMIT
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("invalid limit: must be a positive integer", "limit")
    return min(value, MAX_TOOL_LIMIT)


class _ToolScope:
    """What every tool shares: the client, the defaults, and the one-time creation of the session row."""

    def __init__(self, client: AnyMemtrace, agent_id: str, session_key: str | None) -> None:
        self.bridge = ClientBridge(client, owner="memtrace_tools")
        self.agent_id = agent_id
        self.session_key = session_key
        self.session_id = id_for_key(session_key) if session_key is not None else None
        # The default agent and session stay in the schemas as optional overrides, as in the original.
        self.render = ToolScope(agent_id=agent_id, session_id=self.session_id, overridable=True)
        self._session_row_ready = False

    def session_for(self, args: dict[str, Any]) -> str | None:
        given = args.get("session_id")
        if isinstance(given, str) and given:
            # Mapped like the default, so a key the model read anywhere addresses the same session.
            return id_for_key(given)
        return self.session_id

    async def ensure_default_session(self, session_id: str | None) -> None:
        # The default session gets its row, so `memtrace_instructions` can render its context.
        if session_id is not None and session_id == self.session_id and not self._session_row_ready:
            await ensure_session_row(self.bridge, session_id, self.agent_id, self.session_key or session_id)
            self._session_row_ready = True


Handler = Callable[[_ToolScope, dict[str, Any]], Awaitable[str]]


def _make_tool(
    scope: _ToolScope, name: str, description: str, schema: dict[str, Any], handler: Handler
) -> FunctionTool:
    async def on_invoke_tool(ctx: ToolContext[Any], args_json: str) -> str:
        try:
            args = json.loads(args_json or "{}")
        except json.JSONDecodeError as exc:
            return _error(f"arguments are not valid JSON: {exc}")
        if not isinstance(args, dict):
            return _error("arguments must be a JSON object")
        try:
            return await handler(scope, args)
        except ValidationError as exc:
            return _error(exc.message, field=exc.field)
        except NotFoundError as exc:
            return _error(exc.message)
        except ConflictError as exc:
            return _error(
                f"{exc.message}: an identical memory was stored in the last 24 hours", duplicate=True
            )
        except pydantic.ValidationError as exc:  # a wrongly typed argument, caught by the request model
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            return _error(f"invalid {field}: {first['msg']}", field=field)

    return FunctionTool(
        name=name,
        description=description,
        params_json_schema=schema,
        on_invoke_tool=on_invoke_tool,
        # Optional parameters and free-form metadata do not fit OpenAI's strict mode (as in the original).
        strict_json_schema=False,
    )


# -- handlers -----------------------------------------------------------------------------------------------


async def _remember(scope: _ToolScope, args: dict[str, Any]) -> str:
    # Core's plan: every argument core defines (today's and any it adds) reaches the memory as written there.
    session_id = scope.session_for(args)
    await scope.ensure_default_session(session_id)
    remember = MEMORY_TOOLS["memtrace_remember"]
    values = remember.prepare({**args, "session_id": session_id}, scope.render)
    memory = await scope.bridge.arun(remember.plan(values, scope.render))
    return _dump(memory)


async def _recall_facts(scope: _ToolScope, args: dict[str, Any]) -> str:
    limit = _limit(args)
    result = await scope.bridge.aexecute(
        ListFacts(agent_id=args.get("agent_id", scope.agent_id), prefix=args.get("prefix"), limit=limit)
    )
    return _dump(result)


async def _recall(scope: _ToolScope, args: dict[str, Any]) -> str:
    limit = _limit(args)
    memory_type = args.get("memory_type")
    # A search without a query is the list, newest first; unlike the list it can leave out several types.
    result = await scope.bridge.aexecute(
        SearchMemories(
            SearchQuery(
                agent_id=args.get("agent_id", scope.agent_id),
                since=args.get("since", "24h"),
                session_id=scope.session_for(args),
                memory_types=[memory_type] if memory_type else list(DEFAULT_MEMORY_TYPES),
                limit=limit + 1,  # one more, to tell the model whether there is more
                order="desc",
            )
        )
    )
    memories = result.results[:limit]
    return json.dumps(
        {
            "memories": [m.model_dump(mode="json") for m in memories],
            "count": len(memories),
            "has_more": len(result.results) > limit,
        },
        default=str,
    )


async def _search(scope: _ToolScope, args: dict[str, Any]) -> str:
    query = args.get("query") or None
    result = await scope.bridge.aexecute(
        SearchMemories(
            SearchQuery(
                agent_id=args.get("agent_id", scope.agent_id),
                query=query,
                content_contains=args.get("content_contains"),
                memory_types=args.get("memory_types") or list(DEFAULT_MEMORY_TYPES),
                tags=args.get("tags"),
                since=args.get("since"),
                min_importance=args.get("min_importance"),
                limit=_limit(args),
                # With a query the ranking decides the order; without one, newest first (as in the original).
                order=None if query else "desc",
            )
        )
    )
    return _dump(result)


async def _decide(scope: _ToolScope, args: dict[str, Any]) -> str:
    # Core's plan files the decision in the default session, so it shows under "Decisions Made" in context.
    await scope.ensure_default_session(scope.session_id)
    decide = MEMORY_TOOLS["memtrace_decide"]
    values = decide.prepare(args, scope.render)
    memory = await scope.bridge.arun(decide.plan(values, scope.render))
    return _dump(memory)


async def _forget(scope: _ToolScope, args: dict[str, Any]) -> str:
    memory_id = _required(args, "memory_id")
    memory = await scope.bridge.aexecute(GetMemory(memory_id))
    # The model only gets to delete its own agent's memories, so a confused or injected prompt cannot wipe
    # what other agents know.
    if memory.agent_id != scope.agent_id:
        return _error(
            f"memory {memory_id} belongs to agent {memory.agent_id!r}; memtrace_forget only deletes memories "
            f"of agent {scope.agent_id!r}"
        )
    await scope.bridge.aexecute(DeleteMemory(memory_id))
    return json.dumps({"deleted": memory_id})


# -- rendering: names, descriptions and argument schemas come from `memtrace.tools` (one definition) --------

_SESSION_NOTE = {
    "memtrace_recall": " Conversation turns (memory_type session) are left out unless you ask for that type.",
    "memtrace_search": " Conversation turns (memory type session) are left out unless memory_types includes session.",
}
"""What this adapter does beyond core's definition (see `DEFAULT_MEMORY_TYPES`), said where the model reads."""


_HANDLERS: dict[str, Handler] = {
    "memtrace_remember": _remember,
    "memtrace_recall": _recall,
    "memtrace_search": _search,
    "memtrace_decide": _decide,
    "memtrace_forget": _forget,
    "memtrace_recall_facts": _recall_facts,
}
"""The tools, in order, and what runs them: remember and decide run core's plans; recall, search and forget
keep this adapter's behaviour (conversation turns left out, ``has_more``, a message naming the other agent)."""


def _schema(tool: MemoryTool[Any], scope: ToolScope) -> dict[str, Any]:
    schema = tool.json_schema(scope)
    schema.setdefault("required", [])  # the original's schemas always list it, possibly empty
    return schema


def memtrace_tools(client: AnyMemtrace, agent_id: str, session_id: str | None = None) -> list[FunctionTool]:
    """Memory tools for an OpenAI Agents SDK agent: ``Agent(tools=memtrace_tools(client, "support-bot"))``.

    Returns, in order: ``memtrace_remember``, ``memtrace_recall``, ``memtrace_search``, ``memtrace_decide``
    (the original integration's four, same schemas; remember also takes an optional fact ``key``),
    ``memtrace_forget`` and ``memtrace_recall_facts`` (the current value of keyed facts).

    Args:
        client: An `AsyncMemtrace` or `Memtrace` (a sync client runs in a worker thread).
        agent_id: The agent the memories belong to, unless the model overrides it per call.
        session_id: Optional default session for remember, recall and decide. Any string: it is mapped with
            `memtrace.id_for_key`, like `MemtraceSession`, so the same key addresses the same session.
    """
    scope = _ToolScope(client, agent_id, session_id)
    # Looked up when the tools are made, so what core defines then is what the model sees.
    return [
        _make_tool(
            scope,
            name,
            MEMORY_TOOLS[name].description + _SESSION_NOTE.get(name, ""),
            _schema(MEMORY_TOOLS[name], scope.render),
            handler,
        )
        for name, handler in _HANDLERS.items()
    ]


def create_memtrace_tools(
    client: AnyMemtrace, agent_id: str, *, session_id: str | None = None
) -> list[FunctionTool]:
    """The original Memtrace integration's tool factory (``openai-agents-memtrace``), so code written for it
    runs unchanged: its four tools, in its order (``memtrace_remember``, ``memtrace_recall``,
    ``memtrace_search``, ``memtrace_decide``), with its names and schemas. `memtrace_tools` adds
    ``memtrace_forget``."""
    return memtrace_tools(client, agent_id, session_id)[:4]
