"""memtrace as MCP tools, for Claude Code, Cursor and any other MCP client.

`build_server(client)` returns a FastMCP server (mcp 1.x) whose tools call a memtrace client; the entry point
that picks the client and the transport is `memtrace_server.mcp_server.main`.
"""

from .server import INSTRUCTIONS, MemtraceMCP, build_server
from .tools import TOOL_NAMES

__all__ = ["INSTRUCTIONS", "TOOL_NAMES", "MemtraceMCP", "build_server"]
