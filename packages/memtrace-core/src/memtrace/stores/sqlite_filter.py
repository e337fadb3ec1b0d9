"""`MemoryFilter` as a SQLite WHERE clause with bound parameters: one compiler for every SQLite table of memories
(the embedded store's ``memories``, Arc's local spool).

Case-insensitive ``content_contains`` means Unicode case folding (`str.casefold`): "STRASSE" finds "straße" and
"straße" finds "STRASSE". SQLite's own LIKE folds ASCII only, so it is the fast path (in C) and a Python function
(`register_functions`) covers rows with any non-ASCII character; every connection the clause runs on needs it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..facts import key_prefix_bounds
from ..records import MemoryFilter

ICONTAINS_FUNCTION = "mt_icontains"


def _icontains(haystack: str | None, needle: str | None) -> int:
    if haystack is None or needle is None:
        return 0
    return int(needle.casefold() in haystack.casefold())


def register_functions(conn: sqlite3.Connection) -> None:
    """Make the functions the compiled clauses call available on `conn`."""
    conn.create_function(ICONTAINS_FUNCTION, 2, _icontains, deterministic=True)


@dataclass(frozen=True)
class MemoryColumns:
    """How a table spells the columns a filter reads."""

    prefix: str = ""
    """Table alias with its dot (``"m."``) or nothing."""
    tags_csv: str = "tags"
    """An expression for the tags as ``,a,b,`` (so a whole tag matches with ``instr(..., ',a,')``)."""
    id_time_bounds: Callable[[Sequence[str]], tuple[int | None, int | None]] | None = None
    """When set, a filter by ids also bounds ``time_us`` by the times the ids carry (a table without an id
    index finds them through its (org_id, time_us) index)."""


def compile_filter(org_id: str, flt: MemoryFilter, columns: MemoryColumns) -> tuple[str, list[Any]]:
    """The WHERE clause for `flt` and its parameters, always starting with the org."""
    c = columns.prefix
    clauses = [f"{c}org_id = ?"]
    params: list[Any] = [org_id]
    if flt.agent_id:
        clauses.append(f"{c}agent_id = ?")
        params.append(flt.agent_id)
    if flt.session_id:
        clauses.append(f"{c}session_id = ?")
        params.append(flt.session_id)
    if flt.memory_types:
        clauses.append(f"{c}memory_type IN ({','.join('?' * len(flt.memory_types))})")
        params.extend(flt.memory_types)
    if flt.event_types:
        clauses.append(f"{c}event_type IN ({','.join('?' * len(flt.event_types))})")
        params.extend(flt.event_types)
    for tag in flt.tags:
        clauses.append(f"instr({columns.tags_csv}, ?) > 0")
        params.append(f",{tag},")
    if flt.since_us is not None:
        clauses.append(f"{c}time_us > ?")
        params.append(flt.since_us)
    if flt.until_us is not None:
        clauses.append(f"{c}time_us < ?")
        params.append(flt.until_us)
    if flt.content_contains:
        needle = flt.content_contains
        if needle.isascii():
            # LIKE folds ASCII case in C (its wildcards escaped); only a row with a non-ASCII character (GLOB,
            # also in C) can match by casefold where LIKE does not ("straße" for "STRASSE").
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(
                f"({c}content LIKE ? ESCAPE '\\' OR ({c}content GLOB '*[^\x01-\x7f]*' "
                f"AND {ICONTAINS_FUNCTION}({c}content, ?)))"
            )
            params.extend((f"%{escaped}%", needle))
        else:
            clauses.append(f"{ICONTAINS_FUNCTION}({c}content, ?)")
            params.append(needle)
    if flt.min_importance is not None:
        clauses.append(f"COALESCE({c}importance, 0) >= ?")
        params.append(flt.min_importance)
    if flt.alive_at_us is not None:
        clauses.append(f"({c}expires_us IS NULL OR {c}expires_us > ?)")
        params.append(flt.alive_at_us)
    if flt.expired_by_us is not None:
        clauses.append(f"{c}expires_us <= ?")
        params.append(flt.expired_by_us)
    if flt.ids:
        clauses.append(f"{c}id IN ({','.join('?' * len(flt.ids))})")
        params.extend(flt.ids)
        if columns.id_time_bounds is not None:
            low, high = columns.id_time_bounds(flt.ids)
            if low is not None and high is not None:
                clauses.append(f"{c}time_us BETWEEN ? AND ?")
                params.extend((low, high))
    if flt.current_only:
        clauses.append(f"{c}valid_until_us IS NULL")
    if flt.as_of_us is not None:
        clauses.append(
            f"COALESCE({c}valid_from_us, {c}time_us) <= ? AND ({c}valid_until_us IS NULL OR {c}valid_until_us > ?)"
        )
        params.extend((flt.as_of_us, flt.as_of_us))
    if flt.fact_key is not None:
        clauses.append(f"{c}fact_key = ?")
        params.append(flt.fact_key)
    if flt.fact_key_prefix:
        clauses.append(f"{c}fact_key >= ? AND {c}fact_key < ?")
        params.extend(key_prefix_bounds(flt.fact_key_prefix))
    elif flt.fact_key_prefix is not None:
        clauses.append(f"{c}fact_key IS NOT NULL")
    return " AND ".join(clauses), params


__all__ = ["MemoryColumns", "compile_filter", "register_functions"]
