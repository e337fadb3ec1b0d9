"""The one place Arc SQL text is made from values. Arc has no bound parameters, so every value goes through here.

Two readers must agree on where each literal starts and ends:

- DuckDB, which runs the query: standard SQL strings, ``''`` for a quote, backslash an ordinary character;
- Arc's own pre-pass (``internal/sql/mask.go``), which masks literals before validating the SQL and rewriting
  ``FROM <measurement>`` into a Parquet scan. It also treats a quote *preceded by a backslash* as escaped,
  so ``'C:\\'`` ends the literal for DuckDB but not for Arc, and whatever follows would be read as SQL.

So a string literal here never contains a backslash: each one is spliced in as ``chr(92)``. Quotes are
doubled, NUL is refused (DuckDB strings cannot hold it), and identifiers are checked against a strict
pattern instead of being quoted, because Arc's table rewriter only understands bare names.
``tests/arc/test_sql_escaping.py`` is the property test: no input breaks out, for DuckDB's reading or Arc's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

MAX_SQL_LENGTH = 10_000
"""Arc rejects longer SQL with 400 "SQL query exceeds maximum length"."""

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")

# Words that may not be bare identifiers: SQL keywords DuckDB reserves, and the bare words Arc's validator
# refuses anywhere in a query (SET, RESET, COPY, LOAD, CALL, ...).
_RESERVED = """
    all alter analyse analyze and any array as asc asymmetric attach both call case cast check collate
    column constraint copy create current_catalog current_date current_role current_time
    current_timestamp current_user default deferrable delete desc describe detach distinct do drop else
    end except exec execute export false fetch for foreign from grant group having import in initially
    insert install intersect into join lateral leading limit load localtime localtimestamp not null
    offset on only or order placing pragma primary qualify references reset returning select
    session_user set show some summarize symmetric table then to trailing true truncate union unique
    update user using values variadic vacuum when where window with
"""
RESERVED_WORDS = frozenset(_RESERVED.split())

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def string(value: str) -> str:
    """A DuckDB string literal whose value is exactly `value`.

    Backslashes become ``chr(92)`` (see the module docstring); NUL and lone surrogates (not UTF-8, so not
    sendable) raise `ValueError`."""
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("a SQL string cannot contain NUL")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a SQL string must be valid Unicode (it contains a lone surrogate)") from None
    if "\\" not in value:
        return "'" + value.replace("'", "''") + "'"
    return " || chr(92) || ".join("'" + part.replace("'", "''") + "'" for part in value.split("\\"))


def string_list(values: Iterable[str]) -> str:
    """``('a','b')`` for an IN list; at least one value."""
    items = [string(v) for v in values]
    if not items:
        raise ValueError("an IN list needs at least one value")
    return "(" + ",".join(items) + ")"


def ident(name: str) -> str:
    """A bare identifier (measurement or column): letters, digits and ``_``, not a reserved word."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name) or name.lower() in RESERVED_WORDS:
        raise ValueError(
            f"invalid SQL identifier {name!r}: use a letter, then letters, digits or '_' (at most 128), "
            "and not a SQL keyword"
        )
    return name


def integer(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected int, got {type(value).__name__}")
    return str(value)


def number(value: float) -> str:
    """A DOUBLE literal (always with a fraction or exponent, so DuckDB never reads it as an integer)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    text = repr(float(value))
    return text if ("." in text or "e" in text) else text + ".0"


def iso_time(time_us: int) -> str:
    """UTC microseconds as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: fixed width, so also ordered as text."""
    dt = _EPOCH + timedelta(microseconds=time_us)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp(time_us: int) -> str:
    """A time literal to compare with Arc's ``time`` (TIMESTAMPTZ), e.g. ``'2026-02-07T20:15:00.123456Z'``.

    A plain quoted literal next to ``time`` is also what Arc's partition pruner recognises."""
    integer(time_us)
    return "'" + iso_time(time_us) + "'"


def check_length(sql: str, what: str = "query") -> str:
    """`sql`, or `ValueError` if Arc would refuse it as too long."""
    if len(sql) > MAX_SQL_LENGTH:
        raise ValueError(f"{what} is {len(sql)} characters of SQL; Arc accepts at most {MAX_SQL_LENGTH}")
    return sql


__all__ = [
    "MAX_SQL_LENGTH",
    "check_length",
    "ident",
    "integer",
    "iso_time",
    "number",
    "string",
    "string_list",
    "timestamp",
]
