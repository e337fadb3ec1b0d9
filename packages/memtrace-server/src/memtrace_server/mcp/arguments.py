"""Argument types for the MCP tools, as annotations FastMCP turns into each tool's JSON schema.

Optional arguments without a default are ``X | SkipJsonSchema[None]``: callers may omit them or send null,
while the schema stays a plain ``{"type": ...}`` the way the original server described it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from pydantic.fields import FieldInfo

MemoryTypeName = Literal["episodic", "decision", "entity", "session"]
"""The four memory types, in the order the original's descriptions list them."""


def _drop_null_default(schema: dict[str, Any]) -> None:
    # `"default": null` next to `"type": "string"` reads as a contradiction to schema-strict clients.
    if "default" in schema and schema["default"] is None:
        del schema["default"]


def arg(description: str, **constraints: Any) -> FieldInfo:
    """A documented tool argument; `constraints` are pydantic's (``ge``, ``le``…) and land in the schema."""
    return Field(description=description, json_schema_extra=_drop_null_default, **constraints)
