"""The memtrace MCP tools.

The original server's seven tools keep their names, arguments, requirements and descriptions (spec §8), with
two deliberate corrections written down in docs/mcp.md: `memtrace_session_context` really defaults to the
whole session, and `memtrace_agent_register` no longer claims registration is required. Added:
`memtrace_search.query` (ranked keyword search), `memtrace_get_memory` and `memtrace_forget`.

Every tool returns one text block: the response object as indented JSON, except `memtrace_session_context`,
which returns the markdown context itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations
from pydantic.json_schema import SkipJsonSchema

from memtrace import (
    AddMemoryRequest,
    AsyncMemtrace,
    ConflictError,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    RegisterAgentRequest,
    SearchQuery,
)

from .arguments import MemoryTypeName, arg
from .results import to_json

# "All session memories": the start of the epoch, which no memory can predate.
ALL_TIME = "1970-01-01T00:00:00Z"

DESCRIPTIONS: dict[str, str] = {
    "memtrace_remember": (
        "Store a memory. Use this to record actions, observations, events, or any information the agent "
        "should remember later."
    ),
    "memtrace_recall": (
        "Retrieve recent memories for an agent. Returns memories in reverse chronological order."
    ),
    "memtrace_search": (
        "Search memories with structured filters: by content text, memory types, tags, importance, and time "
        "range. Give `query` to rank results by keyword relevance instead of time."
    ),
    "memtrace_decide": (
        "Log a decision with reasoning. Creates an auditable record of what was decided and why."
    ),
    "memtrace_session_create": (
        "Start a new session — a bounded context for a unit of work. Memories can be scoped to sessions."
    ),
    "memtrace_session_context": (
        "Get LLM-ready session context as formatted markdown. Returns all memories for a session grouped by "
        "type, ready to inject into a prompt."
    ),
    "memtrace_agent_register": (
        "Register a new agent with a name and description. Optional: memories can be stored under any "
        "agent ID, registered or not."
    ),
    "memtrace_get_memory": "Get one memory by its id (mem_...).",
    "memtrace_forget": (
        "Forget a memory: delete it by its id (mem_...). Memories cannot be edited, so to correct one, "
        "forget it and remember the corrected version."
    ),
}

TOOL_NAMES: tuple[str, ...] = tuple(DESCRIPTIONS)

_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
_DELETE = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False)

# Argument types shared by several tools (module level: FastMCP resolves annotations in this namespace).
AgentId = Annotated[str, arg("Agent ID")]
OptionalSessionId = Annotated[str | SkipJsonSchema[None], arg("Session ID to scope this memory to")]
Limit = Annotated[int, arg("Max results. Default: 50", ge=1, le=1000)]
MemoryId = Annotated[str, arg("Memory id, as returned by the other tools (mem_ followed by 26 characters)")]
Metadata = dict[str, Any] | SkipJsonSchema[None]
Strings = list[str] | SkipJsonSchema[None]
OptionalStr = str | SkipJsonSchema[None]
OptionalFloat = float | SkipJsonSchema[None]
OptionalInt = int | SkipJsonSchema[None]
MemoryTypes = list[MemoryTypeName] | SkipJsonSchema[None]


def register_tools(server: FastMCP[Any], client: AsyncMemtrace) -> None:
    """Add the memtrace tools to `server`; each one calls `client`."""

    def tool(name: str, title: str, annotations: ToolAnnotations) -> Any:
        # Plain text results, like the original: no output schema, no structured copy of the JSON.
        return server.tool(
            name=name,
            title=title,
            description=DESCRIPTIONS[name],
            annotations=annotations,
            structured_output=False,
        )

    @tool("memtrace_remember", "Remember", _WRITE)
    async def remember(
        agent_id: AgentId,
        content: Annotated[str, arg("Memory content text")],
        memory_type: Annotated[
            MemoryTypeName, arg("Memory type: episodic (default), decision, entity, session")
        ] = "episodic",
        event_type: Annotated[
            str, arg("Event type (e.g. page_crawled, error, api_call). Default: general")
        ] = "general",
        session_id: OptionalSessionId = None,
        tags: Annotated[Strings, arg("Tags for categorization")] = None,
        importance: Annotated[OptionalFloat, arg("Importance score 0.0 to 1.0", ge=0, le=1)] = None,
        metadata: Annotated[Metadata, arg("Arbitrary key-value metadata")] = None,
    ) -> str:
        request = AddMemoryRequest(
            agent_id=agent_id,
            content=content,
            memory_type=memory_type,
            event_type=event_type,
            session_id=session_id or None,
            tags=tags,
            importance=importance,
            metadata=metadata,
        )
        return to_json(await _add(client, request))

    @tool("memtrace_recall", "Recall", _READ)
    async def recall(
        agent_id: AgentId,
        since: Annotated[str, arg("Time window (e.g. 2h, 24h, 7d). Default: 24h")] = "24h",
        session_id: Annotated[OptionalStr, arg("Filter by session ID")] = None,
        memory_type: Annotated[MemoryTypeName | SkipJsonSchema[None], arg("Filter by memory type")] = None,
        limit: Limit = 50,
    ) -> str:
        options = ListOptions(
            agent_id=agent_id,
            since=since or "24h",
            session_id=session_id or None,
            memory_type=memory_type,
            limit=limit,
            order="desc",
        )
        return to_json(await client.list_memories(options))

    @tool("memtrace_search", "Search memories", _READ)
    async def search(
        agent_id: Annotated[OptionalStr, arg("Filter by agent ID")] = None,
        content_contains: Annotated[OptionalStr, arg("Search text within memory content")] = None,
        memory_types: Annotated[
            MemoryTypes, arg("Filter by memory types (episodic, decision, entity, session)")
        ] = None,
        tags: Annotated[Strings, arg("Filter by tags")] = None,
        since: Annotated[OptionalStr, arg("Time window (e.g. 2h, 24h)")] = None,
        min_importance: Annotated[
            OptionalFloat, arg("Minimum importance score 0.0 to 1.0", ge=0, le=1)
        ] = None,
        limit: Limit = 50,
        query: Annotated[
            OptionalStr,
            arg(
                "Keywords to rank by relevance (BM25), then recency and importance. "
                "Without it, results are newest first."
            ),
        ] = None,
    ) -> str:
        q = SearchQuery(
            agent_id=agent_id or None,
            content_contains=content_contains or None,
            memory_types=list(memory_types) if memory_types else None,
            tags=tags or None,
            since=since or None,
            min_importance=min_importance,
            limit=limit,
            order="desc",
            query=query or None,
        )
        return to_json(await client.search_memories(q))

    @tool("memtrace_decide", "Log a decision", _WRITE)
    async def decide(
        agent_id: AgentId,
        decision: Annotated[str, arg("The decision that was made")],
        reasoning: Annotated[str, arg("Why this decision was made")],
    ) -> str:
        request = AddMemoryRequest(
            agent_id=agent_id,
            content=decision,
            memory_type="decision",
            event_type="decision",
            metadata={"reasoning": reasoning},
        )
        return to_json(await _add(client, request))

    @tool("memtrace_session_create", "Start a session", _WRITE)
    async def session_create(
        agent_id: Annotated[str, arg("Agent ID that owns this session")],
        metadata: Annotated[Metadata, arg("Session metadata (e.g. goal, context)")] = None,
    ) -> str:
        session = await client.create_session(CreateSessionRequest(agent_id=agent_id, metadata=metadata))
        return to_json(session)

    @tool("memtrace_session_context", "Session context", _READ)
    async def session_context(
        session_id: Annotated[str, arg("Session ID")],
        since: Annotated[OptionalStr, arg("Time window (e.g. 4h). Default: all session memories")] = None,
        include_types: Annotated[
            MemoryTypes, arg("Memory types to include (episodic, decision, entity, session)")
        ] = None,
        max_tokens: Annotated[OptionalInt, arg("Approximate max token budget for context", ge=1)] = None,
    ) -> str:
        options = ContextOptions(
            since=since or ALL_TIME,
            include_types=list(include_types) if include_types else None,
            max_tokens=max_tokens,
        )
        context = await client.get_session_context(session_id, options)
        return context.context

    @tool("memtrace_agent_register", "Register an agent", _WRITE)
    async def agent_register(
        name: Annotated[str, arg("Agent name; use the same name as agent_id in the other tools")],
        description: Annotated[OptionalStr, arg("What this agent does")] = None,
    ) -> str:
        agent = await client.register_agent(RegisterAgentRequest(name=name, description=description or None))
        return to_json(agent)

    @tool("memtrace_get_memory", "Get a memory", _READ)
    async def get_memory(memory_id: MemoryId) -> str:
        return to_json(await client.get_memory(memory_id))

    @tool("memtrace_forget", "Forget a memory", _DELETE)
    async def forget(memory_id: MemoryId) -> str:
        await client.delete_memory(memory_id)
        return to_json({"deleted": True, "id": memory_id})


async def _add(client: AsyncMemtrace, request: AddMemoryRequest) -> Memory:
    try:
        return await client.add_memory(request)
    except ConflictError as exc:
        # "duplicate memory" alone leaves a model guessing; say what happened and that nothing changed.
        raise ConflictError(
            f"{exc.message}: an identical memory for agent '{request.agent_id}' was stored within the "
            "dedup window, so nothing new was written",
            status_code=exc.status_code,
        ) from exc
