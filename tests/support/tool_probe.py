"""An argument core adds to its tool definitions that no adapter knows about.

`add_probe_argument` gives every tool in `memtrace.tools.MEMORY_TOOLS` one more optional argument, as the
expiry (``ttl``) and fact (``key``) work add theirs, and records what each tool's plan was given. An adapter
test then proves, with no change to the adapter, that the argument is in its framework's schema and that a
value the model gives reaches core's plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import pytest

from memtrace.tools import MEMORY_TOOLS, REMEMBER, MemoryTool, ToolArg, ToolScope

PROBE = "probe_label"
"""The added argument's name (an optional string)."""


def _recording(tool: MemoryTool[Any], seen: list[Any]) -> MemoryTool[Any]:
    core_plan = tool.plan

    def plan(arguments: dict[str, Any], scope: ToolScope) -> Generator[Any, Any, Any]:
        seen.append(arguments.get(PROBE))
        return (yield from core_plan(arguments, scope))

    # Typed like core's optional strings (`str | SkipJsonSchema[None]`), e.g. remember's session_id.
    optional_text = next(arg.annotation for arg in REMEMBER.args if arg.name == "session_id")
    probe = ToolArg(PROBE, optional_text, "An argument core added after the adapters", None)
    return dataclasses.replace(tool, args=(*tool.args, probe), plan=plan)


def add_probe_argument(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Add `PROBE` to every core tool for this test; returns, per tool name, the values its plan was given."""
    seen: dict[str, list[Any]] = {}
    for name, tool in list(MEMORY_TOOLS.items()):
        seen[name] = []
        monkeypatch.setitem(MEMORY_TOOLS, name, _recording(tool, seen[name]))
    return seen


def core_arguments(name: str, scope: ToolScope) -> set[str]:
    """The arguments core's tool `name` leaves to the model under `scope`."""
    return {arg.name for arg in MEMORY_TOOLS[name].arguments(scope)}
