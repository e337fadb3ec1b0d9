"""Turning failures into the one-line messages an MCP client (and the model behind it) reads.

A tool error must say what to fix: which argument, and why. memtrace's own errors already name the field;
pydantic's argument errors are condensed to ``<argument>: <problem>``.
"""

from __future__ import annotations

import logging
from typing import Any

import pydantic

from memtrace import MemtraceError

logger = logging.getLogger("memtrace_server.mcp")


def describe_error(exc: BaseException) -> str:
    """The message for a failed tool call."""
    if isinstance(exc, MemtraceError):
        status = f" (status {exc.status_code})" if exc.status_code else ""
        return f"memtrace error{status}: {exc.message}"
    if isinstance(exc, pydantic.ValidationError):
        return "invalid arguments: " + describe_validation_error(exc)
    # Not an input problem: keep the traceback for whoever reads the server's stderr.
    logger.error("tool call failed", exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    """``agent_id is required; limit: Input should be less than or equal to 1000`` - one entry per argument."""
    problems: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        loc = error.get("loc", ())
        if not loc:
            continue
        name = _path(loc)
        # `X | None` arguments report one failure per union branch; the None branch adds nothing.
        if error.get("type") == "none_required" and name in problems:
            continue
        if name not in problems or problems[name].endswith("Input should be None"):
            problems[name] = (
                f"{name} is required" if error.get("type") == "missing" else f"{name}: {error['msg']}"
            )
    return "; ".join(problems.values()) or str(exc)


def _path(loc: tuple[Any, ...]) -> str:
    """``("tags", "list[str]", 2)`` -> ``tags[2]``: the argument plus list positions, without union tags."""
    return str(loc[0]) + "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))
