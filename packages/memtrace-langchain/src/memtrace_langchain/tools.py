"""`memtrace_tools`: remember, recall, search, decide and forget as LangChain tools an agent can call.

Names, descriptions, argument schemas and what each tool does come from `memtrace.tools`, the one definition
the MCP server and the other adapters render too: an argument core adds there reaches these tools' schemas
and their calls with no change here. What is LangChain's own:

- the agent (and optionally the conversation's session) is bound when the tools are made, so the model never
  names them;
- ``memtrace_search`` needs a ``query`` (these tools search by keywords; filtering without one is what
  ``memtrace_recall`` does), and recall and search hand the model fewer memories by default (20 and 5) than
  the MCP tools (50), as their text goes straight into the prompt;
- results are ``content_and_artifact``: the model reads short lines (each memory with its id, so it can be
  forgotten), the application gets the result as JSON data in ``ToolMessage.artifact`` (a `memtrace.Memory`,
  `memtrace.MemoryList` or `memtrace.SearchResult` dumped with ``mode="json"``, so the message stays storable
  in a chat history or checkpointer);
- mistakes the model can correct (a bad argument, an unknown id, a duplicate) come back to it as the tool's
  answer rather than failing the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel

from memtrace import (
    ConflictError,
    Memory,
    MemoryList,
    NotFoundError,
    SearchResult,
    ValidationError,
    check_id,
    id_for_key,
)
from memtrace.bridge import AnyMemtrace, ClientBridge, Plan
from memtrace.tools import MEMORY_TOOLS, MemoryTool, ToolScope, format_memory

TOOL_NAMES = (
    "memtrace_remember",
    "memtrace_recall",
    "memtrace_search",
    "memtrace_decide",
    "memtrace_forget",
    "memtrace_recall_facts",
)
"""The tools `memtrace_tools` returns, in order."""

RECALL_LIMIT = 20
SEARCH_LIMIT = 5
MAX_LIMIT = 200
"""The most memories one call hands the model: its text goes into the prompt."""

Result = tuple[str, Any]
"""(what the model reads, the artifact the application gets)."""


def _render(tool: MemoryTool[Any]) -> MemoryTool[Any]:
    """Core's tool with LangChain's conventions (see the module docstring); every other argument as defined."""
    if tool.name == "memtrace_recall":
        return tool.adapt(
            defaults={"limit": RECALL_LIMIT},
            bounds={"limit": {"le": MAX_LIMIT}},
            describe={"limit": f"At most this many memories, newest first. Default: {RECALL_LIMIT}"},
        )
    if tool.name == "memtrace_search":
        return tool.adapt(
            require=["query"],
            defaults={"limit": SEARCH_LIMIT},
            bounds={"limit": {"le": MAX_LIMIT}},
            describe={
                "query": "Keywords to look for, e.g. 'dark mode preference'; the most relevant come first",
                "limit": f"At most this many results, best first. Default: {SEARCH_LIMIT}",
            },
        )
    return tool


def _lines(memories: list[Memory], empty: str) -> str:
    return "\n".join(format_memory(m) for m in memories) if memories else empty


def _text(name: str, arguments: dict[str, Any], result: Any) -> str:
    """What the model reads: one line per memory, or one sentence."""
    if isinstance(result, MemoryList):
        if name == "memtrace_recall_facts":
            return _lines(result.memories, "No facts known.")
        return _lines(result.memories, f"No memories since {arguments.get('since') or '24h'}.")
    if isinstance(result, SearchResult):
        return _lines(result.results, f"No memories match {arguments.get('query')!r}.")
    if isinstance(result, Memory):
        return (
            f"Decision recorded as {result.id}."
            if name == "memtrace_decide"
            else f"Remembered as {result.id}."
        )
    if name == "memtrace_forget":
        return f"Forgot {result['id']}."
    return str(result)


def _answer(tool: MemoryTool[Any], arguments: dict[str, Any], scope: ToolScope) -> Plan[Result]:
    """Run core's plan; turn what the model can act on into its answer."""
    try:
        result = yield from tool.plan(tool.prepare(arguments, scope), scope)
    except ValidationError as exc:
        raise ToolException(f"Invalid arguments: {exc.message}") from exc
    except ConflictError:
        # The memory is there already: that is an answer, not a failure.
        if arguments.get("key"):
            return f"Already known: {arguments['key']} has this value.", {"duplicate": True}
        return "Already remembered: an identical memory was stored within the last 24 hours.", {
            "duplicate": True
        }
    except NotFoundError:
        if tool.name != "memtrace_forget":
            raise
        memory_id = arguments.get("memory_id")
        return f"No memory {memory_id} to forget.", {"deleted": False, "id": memory_id}
    # JSON data, not the pydantic model: the artifact is stored with the ToolMessage (chat history,
    # checkpointers), which must give back exactly what was added.
    artifact = result.model_dump(mode="json", exclude_none=True) if isinstance(result, BaseModel) else result
    return _text(tool.name, arguments, result), artifact


def _tool(bridge: ClientBridge, tool: MemoryTool[Any], scope: ToolScope) -> StructuredTool:
    # Both faces for either kind of client: the bridge serves sync agents with an AsyncMemtrace too.
    def func(**arguments: Any) -> Result:
        return bridge.run(_answer(tool, arguments, scope))

    async def coroutine(**arguments: Any) -> Result:
        return await bridge.arun(_answer(tool, arguments, scope))

    return StructuredTool.from_function(
        func=func,
        coroutine=coroutine,
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_model(scope),
        infer_schema=False,
        response_format="content_and_artifact",
        handle_tool_error=True,
        handle_validation_error=_validation_answer,
    )


def _validation_answer(error: Exception) -> str:
    """A wrongly typed argument, refused by LangChain before the call: the model reads which and why."""
    errors: Callable[[], list[Any]] | None = getattr(error, "errors", None)
    if errors is None:
        return f"Invalid arguments: {error}"
    first = errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "arguments"
    return f"Invalid arguments: {where}: {first.get('msg')}"


def memtrace_tools(client: AnyMemtrace, agent_id: str, session_id: str | None = None) -> list[BaseTool]:
    """Memory tools for a LangChain agent: ``memtrace_remember`` (with an optional fact ``key``: the new value
    supersedes the key's current one), ``memtrace_recall``, ``memtrace_search``, ``memtrace_decide``,
    ``memtrace_forget`` and ``memtrace_recall_facts`` (the current value of keyed facts).

    Args:
        client: A `memtrace.Memtrace` or `memtrace.AsyncMemtrace`; either serves sync and async agents
            (through `memtrace.bridge.ClientBridge`).
        agent_id: The memtrace agent the tools read and write for. ``forget`` only deletes its memories.
        session_id: If given (any key; mapped with `memtrace.id_for_key`), new memories are filed under this
            session and ``recall`` lists only this session. ``search`` always covers all of the agent's memories.

    Each tool answers with text for the model and the result as JSON data in the ``ToolMessage`` artifact. Bad
    arguments (an invalid tag, an unknown time format) come back to the model as the tool's answer, so it can
    correct itself; a duplicate memory within 24 hours is reported, not stored twice.
    """
    bridge = ClientBridge(client, owner="memtrace_tools")
    scope = ToolScope(
        agent_id=check_id(agent_id, "agent_id"), session_id=id_for_key(session_id) if session_id else None
    )
    return [_tool(bridge, _render(MEMORY_TOOLS[name]), scope) for name in TOOL_NAMES]


__all__ = ["TOOL_NAMES", "memtrace_tools"]
