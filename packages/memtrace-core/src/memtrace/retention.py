"""Retention policies: how long an organisation keeps its memories, per memory type.

A policy is a set of rules, each ``memory type -> keep`` where keep is a duration (``30d``: memories whose time is
more than 30 days back are deleted by the next sweep) or ``forever``. The rule for ``*`` covers every type without
a rule of its own; with no rule at all a type is kept forever. So ``* = 90d, decision = forever`` keeps decisions
and deletes every other memory after 90 days.

The rules are kept in the metadata store (`RetentionRow`), so every replica sees the same policy, and applied by
the sweep (`memtrace.sweep`). This module holds the rules' shape and their validation only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import ValidationError
from .models import MemoryType
from .stores.base import RetentionRow
from .timeparse import from_us
from .validation import check_memory_type, parse_duration

ALL_TYPES = "*"
"""The memory type of the rule that covers every type without a rule of its own."""
FOREVER = "forever"
MEMORY_TYPES: tuple[str, ...] = tuple(t.value for t in MemoryType)
MIN_RETENTION_SECONDS = 3600
"""At least an hour: a retention of ``30m`` is far more likely a typo for 30 months than a wish."""
MAX_RETENTION_SECONDS = 100 * 365 * 86400
"""At most a hundred years; longer is ``forever``."""


@dataclass(frozen=True)
class RetentionRule:
    """One rule as users see it: ``memory_type`` (a type or ``*``) keeps memories for ``keep``."""

    org_id: str
    memory_type: str
    keep: str
    """A duration such as ``30d``, or ``forever``."""
    max_age_seconds: int | None
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "memory_type": self.memory_type,
            "keep": self.keep,
            "max_age_seconds": self.max_age_seconds,
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z"),
        }


def check_rule_type(value: Any, field: str = "memory_type") -> str:
    """A rule's memory type: one of the four, or ``*`` (also when `value` is None or empty)."""
    if value in (None, "", ALL_TYPES):
        return ALL_TYPES
    return check_memory_type(value, field)


def parse_keep(value: Any, field: str = "keep") -> int | None:
    """A rule's keep as microseconds, None for ``forever``; bounded by `MIN_RETENTION_SECONDS` and
    `MAX_RETENTION_SECONDS`."""
    if isinstance(value, str) and value.strip().lower() == FOREVER:
        return None
    return parse_duration(value, field, min_seconds=MIN_RETENTION_SECONDS, max_seconds=MAX_RETENTION_SECONDS)


def format_keep(max_age_us: int | None) -> str:
    """`max_age_us` written back as a duration in its largest whole unit (``30d``, ``36h``), or ``forever``."""
    if max_age_us is None:
        return FOREVER
    seconds = max_age_us // 1_000_000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def rule_of(row: RetentionRow) -> RetentionRule:
    return RetentionRule(
        org_id=row.org_id,
        memory_type=row.memory_type,
        keep=format_keep(row.max_age_us),
        max_age_seconds=None if row.max_age_us is None else row.max_age_us // 1_000_000,
        updated_at=from_us(row.updated_us),
    )


def max_ages(rows: list[RetentionRow]) -> dict[str, int]:
    """Per memory type, the age past which the org's memories of that type are deleted (types kept forever are
    absent). `rows` are one organisation's rules."""
    by_type = {r.memory_type: r.max_age_us for r in rows}
    default = by_type.get(ALL_TYPES)
    out: dict[str, int] = {}
    for memory_type in MEMORY_TYPES:
        age = by_type.get(memory_type, default)
        if age is not None:
            out[memory_type] = age
    return out


def check_policy_mapping(policy: dict[str, str], where: str) -> dict[str, int | None]:
    """A whole policy written as ``{type or "default": keep}`` (the ``[retention]`` configuration section), as
    ``{type or "*": max_age_us}``; a `ValidationError` names ``where.key``."""
    out: dict[str, int | None] = {}
    for key, keep in policy.items():
        name = f"{where}.{key}"
        memory_type = ALL_TYPES if key == "default" else check_rule_type(key, name)
        if not isinstance(keep, str):
            raise ValidationError(f"invalid {name}: expected a duration like 30d, or 'forever'", name)
        out[memory_type] = parse_keep(keep, name)
    return out


__all__ = [
    "ALL_TYPES",
    "FOREVER",
    "MAX_RETENTION_SECONDS",
    "MEMORY_TYPES",
    "MIN_RETENTION_SECONDS",
    "RetentionRule",
    "check_policy_mapping",
    "check_rule_type",
    "format_keep",
    "max_ages",
    "parse_keep",
    "rule_of",
]
