"""The memtrace MCP server: FastMCP (mcp 1.x) with strict arguments and readable tool errors."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.types import ContentBlock
from mcp.types import Tool as MCPTool

from memtrace import AsyncMemtrace

from .access import loopback_security
from .errors import describe_error
from .tools import register_tools

INSTRUCTIONS = (
    "Memtrace provides persistent memory for AI agents. Use these tools to store, recall, and search "
    "memories. Memories are temporal — always specify time windows when recalling."
)
"""The original server's instructions, verbatim."""

DEFAULT_HTTP_PORT = 9101
"""One above the REST server's 9100."""


def _server_version() -> str:
    try:
        return version("memtrace-server")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "0+unknown"


class MemtraceMCP(FastMCP[Any]):
    """FastMCP with two changes a tool-calling model benefits from:

    - unknown arguments are rejected (and schemas say ``additionalProperties: false``) instead of silently
      ignored, so a misspelt ``agentId`` is an error the model can fix, not a write under the wrong filter;
    - a failed call's message is one readable line naming the argument, not a pydantic dump.

    The server keeps serving after any failed call: errors become ``isError`` tool results.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(name="memtrace", instructions=INSTRUCTIONS, **settings)
        # FastMCP has no version parameter; without this, clients would see the mcp library's version.
        self._mcp_server.version = _server_version()
        self._parameters: dict[str, frozenset[str]] = {}

    async def list_tools(self) -> list[MCPTool]:
        tools = await super().list_tools()
        for tool in tools:
            tool.inputSchema = {**tool.inputSchema, "additionalProperties": False}
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any]
    ) -> Sequence[ContentBlock] | dict[str, Any]:
        await self._reject_unknown_arguments(name, arguments)
        try:
            return await super().call_tool(name, arguments)
        except ToolError as exc:
            if exc.__cause__ is None:  # FastMCP's own message, e.g. "Unknown tool: x"
                raise
            raise ToolError(describe_error(exc.__cause__)) from exc.__cause__

    async def _reject_unknown_arguments(self, name: str, arguments: dict[str, Any]) -> None:
        if not self._parameters:
            self._parameters = {
                t.name: frozenset(t.inputSchema.get("properties", {})) for t in await super().list_tools()
            }
        accepted = self._parameters.get(name)
        if accepted is None:
            return  # unknown tool: FastMCP reports it
        unknown = sorted(set(arguments) - accepted)
        if unknown:
            names = ", ".join(repr(u) for u in unknown)
            raise ToolError(
                f"invalid arguments: unknown argument {names}; {name} takes {', '.join(sorted(accepted))}"
            )

    async def run_stdio_async(self, stdout: anyio.AsyncFile[str] | None = None) -> None:
        """Serve over stdio; `stdout` is the protocol channel (default: the process's stdout)."""
        async with stdio_server(stdout=stdout) as (read_stream, write_stream):
            await self._mcp_server.run(
                read_stream, write_stream, self._mcp_server.create_initialization_options()
            )


def build_server(
    client: AsyncMemtrace,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_HTTP_PORT,
    log_level: str = "WARNING",
) -> MemtraceMCP:
    """The memtrace MCP server over `client`. `host`/`port` are used by the streamable-HTTP transport only
    (endpoint ``/mcp``); on any loopback address, Host and Origin must be local (DNS-rebinding protection)."""
    server = MemtraceMCP(
        host=host, port=port, log_level=log_level, transport_security=loopback_security(host)
    )
    register_tools(server, client)
    return server
