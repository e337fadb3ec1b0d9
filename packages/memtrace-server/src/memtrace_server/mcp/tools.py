"""The memtrace MCP tools, rendered from the one definition in `memtrace.tools`.

The original server's seven tools keep their names, arguments, requirements and descriptions (spec §8), with
two deliberate corrections written down in docs/mcp.md: `memtrace_session_context` really defaults to the
whole session, and `memtrace_agent_register` no longer claims registration is required. Added:
`memtrace_search.query` (ranked keyword search), `memtrace_get_memory` and `memtrace_forget`.

Every tool returns one text block: the response object as indented JSON, except `memtrace_session_context`,
which returns the markdown context itself. No `ToolScope`: over MCP every argument is the model's to give.
"""

from __future__ import annotations

from typing import Any

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

from memtrace import AsyncMemtrace, ClientBridge
from memtrace.tools import ALL_TIME, MEMORY_TOOLS, MemoryTool, ToolKind

DESCRIPTIONS: dict[str, str] = {name: tool.description for name, tool in MEMORY_TOOLS.items()}
TOOL_NAMES: tuple[str, ...] = tuple(MEMORY_TOOLS)

ANNOTATIONS: dict[ToolKind, ToolAnnotations] = {
    "read": ToolAnnotations(readOnlyHint=True, openWorldHint=False),
    "write": ToolAnnotations(
        readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False
    ),
    "delete": ToolAnnotations(
        readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False
    ),
}


def register_tools(server: FastMCP[Any], client: AsyncMemtrace) -> None:
    """Add the memtrace tools to `server`; each one calls `client`."""
    bridge = ClientBridge(client)
    for tool in MEMORY_TOOLS.values():
        # Plain text results, like the original: no output schema, no structured copy of the JSON.
        server.add_tool(
            _tool_function(tool, bridge),
            name=tool.name,
            title=tool.title,
            description=tool.description,
            annotations=ANNOTATIONS[tool.kind],
            structured_output=False,
        )


def _tool_function(tool: MemoryTool[Any], bridge: ClientBridge) -> Any:
    """A coroutine function whose signature is the tool's arguments: FastMCP derives the schema from it."""

    async def call(**arguments: Any) -> str:
        text: str = tool.text(await tool.arun(bridge, arguments))
        return text

    call.__name__ = call.__qualname__ = tool.key  # FastMCP titles the argument schema "<name>Arguments"
    call.__signature__ = tool.signature()  # type: ignore[attr-defined]
    call.__doc__ = tool.description
    return call


__all__ = ["ALL_TIME", "ANNOTATIONS", "DESCRIPTIONS", "TOOL_NAMES", "register_tools"]
