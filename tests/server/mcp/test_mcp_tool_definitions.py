"""The MCP tools are core's definitions (`memtrace.tools`) rendered by `register_tools`: an argument core adds
reaches the MCP schema and the tool's plan with no change to the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.fastmcp import FastMCP
from support.tool_probe import PROBE, add_probe_argument, core_arguments

from memtrace import AsyncMemtrace
from memtrace.tools import MEMORY_TOOLS, ToolScope
from memtrace_server.mcp.tools import register_tools


async def test_an_argument_core_adds_reaches_the_mcp_schema_and_the_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = add_probe_argument(monkeypatch)
    server: FastMCP = FastMCP("probe")
    async with AsyncMemtrace.open(tmp_path / "data") as client:
        register_tools(server, client)
        tools = {tool.name: tool for tool in await server.list_tools()}
        assert set(tools) == set(MEMORY_TOOLS)
        for name, tool in tools.items():
            assert set(tool.inputSchema["properties"]) == core_arguments(name, ToolScope()), name
            assert PROBE in tool.inputSchema["properties"]
        importance = tools["memtrace_remember"].inputSchema["properties"]["importance"]
        assert (importance["minimum"], importance["maximum"]) == (0, 1) and "ge" not in importance
        await server.call_tool("memtrace_remember", {"agent_id": "probe", "content": "Probe me", PROBE: "m"})
    assert seen["memtrace_remember"] == ["m"]
