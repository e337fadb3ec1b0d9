"""`MemoryFilter` as a PostgreSQL WHERE clause with named bound parameters, always starting with the org."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...facts import key_prefix_bounds
from ...records import MemoryFilter
from ..casefold import ascii_folds, folds_touching


@dataclass
class Where:
    """A WHERE clause, its parameters, and a check SQL cannot express exactly (run on each row's content)."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    content_check: Callable[[str], bool] | None = None


def _casefold_contains(needle: str) -> Callable[[str], bool]:
    folded = needle.casefold()
    return lambda content: folded in content.casefold()


def where(org_id: str, flt: MemoryFilter) -> Where:
    clauses = ["m.org_id = %(org)s"]
    params: dict[str, Any] = {"org": org_id}
    check = None
    if flt.agent_id:
        clauses.append("m.agent_id = %(agent)s")
        params["agent"] = flt.agent_id
    if flt.session_id:
        clauses.append("m.session_id = %(session)s")
        params["session"] = flt.session_id
    if flt.memory_types:
        clauses.append("m.memory_type = ANY(%(memory_types)s)")
        params["memory_types"] = list(flt.memory_types)
    if flt.event_types:
        clauses.append("m.event_type = ANY(%(event_types)s)")
        params["event_types"] = list(flt.event_types)
    if flt.tags:
        # Whole tags, all of them: array containment compares elements exactly.
        clauses.append("m.tags @> %(tags)s::text[]")
        params["tags"] = list(flt.tags)
    if flt.since_us is not None:
        clauses.append("m.time_us > %(since)s")
        params["since"] = flt.since_us
    if flt.until_us is not None:
        clauses.append("m.time_us < %(until)s")
        params["until"] = flt.until_us
    if flt.content_contains:
        needle = flt.content_contains
        if needle.isascii():
            # Case folding in SQL: lower() under the "C" collation folds exactly A-Z, and the few non-ASCII
            # characters that fold to ASCII ("ß" -> "ss") and share a character with the needle are replaced.
            content = 'lower(m.content COLLATE "C")'
            for i, (ch, fold) in enumerate(folds_touching(needle, ascii_folds())):
                params[f"fold_from_{i}"], params[f"fold_to_{i}"] = ch, fold
                content = f"replace({content}, %(fold_from_{i})s, %(fold_to_{i})s)"
            clauses.append(f"strpos({content}, %(contains)s) > 0")
            params["contains"] = needle.casefold()
        else:
            # Full Unicode case folding (ß = ss, Σ = σ = ς) has no PostgreSQL 15 function: the rows that pass
            # the other conditions are checked in Python with str.casefold, as the embedded store does.
            check = _casefold_contains(needle)
    if flt.min_importance is not None:
        clauses.append("COALESCE(m.importance, 0) >= %(min_importance)s")
        params["min_importance"] = flt.min_importance
    if flt.alive_at_us is not None:
        clauses.append("(m.expires_us IS NULL OR m.expires_us > %(alive_at)s)")
        params["alive_at"] = flt.alive_at_us
    if flt.expired_by_us is not None:
        clauses.append("m.expires_us <= %(expired_by)s")
        params["expired_by"] = flt.expired_by_us
    if flt.ids:
        clauses.append("m.id = ANY(%(ids)s)")
        params["ids"] = list(flt.ids)
    if flt.current_only:
        clauses.append("m.valid_until_us IS NULL")
    if flt.as_of_us is not None:
        clauses.append(
            "COALESCE(m.valid_from_us, m.time_us) <= %(as_of)s "
            "AND (m.valid_until_us IS NULL OR m.valid_until_us > %(as_of)s)"
        )
        params["as_of"] = flt.as_of_us
    if flt.fact_key is not None:
        clauses.append("m.fact_key = %(fact_key)s")
        params["fact_key"] = flt.fact_key
    if flt.fact_key_prefix:
        clauses.append("m.fact_key >= %(key_low)s AND m.fact_key < %(key_high)s")
        params["key_low"], params["key_high"] = key_prefix_bounds(flt.fact_key_prefix)
    elif flt.fact_key_prefix is not None:
        clauses.append("m.fact_key IS NOT NULL")
    return Where(" AND ".join(clauses), params, check)


__all__ = ["Where", "where"]
