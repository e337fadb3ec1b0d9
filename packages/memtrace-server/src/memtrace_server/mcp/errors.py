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
    # name -> (is it only the None branch's complaint?, message)
    problems: dict[str, tuple[bool, str]] = {}
    for error in exc.errors(include_url=False):
        if not error["loc"]:
            continue
        name = _path(error["loc"])
        # An `X | None` argument fails once per union branch; "Input should be None" is never the useful one.
        if name in problems and not problems[name][0]:
            continue
        message = f"{name} is required" if error["type"] == "missing" else f"{name}: {error['msg']}"
        problems[name] = (error["type"] == "none_required", message)
    return "; ".join(message for _, message in problems.values()) or str(exc)


def _path(loc: tuple[Any, ...]) -> str:
    """``("tags", "list[str]", 2)`` -> ``tags[2]``: the argument plus list positions, without union tags."""
    return str(loc[0]) + "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))
