"""Input rules (spec §1.4), each failure a `ValidationError` that names the field."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from typing import Any, Literal, overload

from .errors import ValidationError
from .ids import ID_PATTERN, MEMORY_ID_PATTERN
from .limits import MAX_METADATA_BYTES, MAX_METADATA_DEPTH
from .models import MemoryType
from .timeparse import MAX_RELATIVE_SECONDS, check_time_us, parse_relative, to_checked_us

TYPE_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,63}$")
TAG_PATTERN = re.compile(r"^[a-zA-Z0-9_.\-]{1,64}$")
MEMORY_TYPES = frozenset(t.value for t in MemoryType)
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000
MAX_DEDUP_KEY_LENGTH = 256


@functools.lru_cache(maxsize=8192)
def _is_id(value: str) -> bool:
    # Agent and session ids repeat across a batch; remembering the verdict keeps the regex off the hot path.
    return ID_PATTERN.fullmatch(value) is not None


@functools.lru_cache(maxsize=8192)
def _is_tag(value: str) -> bool:
    return TAG_PATTERN.fullmatch(value) is not None


@functools.lru_cache(maxsize=1024)
def _is_type(value: str) -> bool:
    return TYPE_PATTERN.fullmatch(value) is not None


@overload
def check_id(value: Any, field: str = "id", *, required: Literal[True] = True) -> str: ...


@overload
def check_id(value: Any, field: str = "id", *, required: bool) -> str | None: ...


def check_id(value: Any, field: str = "id", *, required: bool = True) -> str | None:
    """`value` if it is a valid agent, session or org id (a letter, then up to 127 letters, digits, ``_`` or
    ``-``); else a `ValidationError` naming `field`. An empty or missing value is an error when `required`,
    else None. Adapters call it at construction, so a bad id fails there rather than on the first write."""
    if value is None or value == "":
        if required:
            raise ValidationError(f"{field} is required", field)
        return None
    if not isinstance(value, str) or not _is_id(value):
        raise ValidationError(
            f"invalid {field}: must start with a letter and contain only letters, digits, '_' or '-', "
            "max 128 chars",
            field,
        )
    return value


def check_memory_id(value: Any, field: str = "memory_id") -> str:
    if not isinstance(value, str) or not MEMORY_ID_PATTERN.fullmatch(value):
        raise ValidationError(f"invalid {field}: expected 'mem_' followed by 26 base32 characters", field)
    return value


def check_event_type(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _is_type(value):
        raise ValidationError(
            f"invalid {field}: must start with a letter and contain only letters, digits or '_', max 64 chars",
            field,
        )
    return value


def check_memory_type(value: Any, field: str) -> str:
    if isinstance(value, MemoryType):
        return value.value
    # A list or an object (from JSON) is no type either: `in` would raise TypeError on it (unhashable).
    if not isinstance(value, str) or value not in MEMORY_TYPES:
        raise ValidationError(
            f"invalid {field}: {value!r} is not one of episodic, session, decision, entity", field
        )
    return str(value)


def check_unicode(value: str, field: str) -> str:
    """`value` if it can be stored as UTF-8; a lone surrogate (``"\\ud800"`` in JSON) cannot."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                f"invalid {field}: not valid Unicode (a lone surrogate); send UTF-8 text", field
            ) from None
    return value


def check_count(values: Any, field: str, limit: int) -> None:
    """A list-like input has at most `limit` entries (checked before any entry is looked at)."""
    if isinstance(values, (list, tuple)) and len(values) > limit:
        raise ValidationError(f"invalid {field}: {len(values)} entries, at most {limit} are allowed", field)


def check_tags(tags: Iterable[Any] | None, field: str, limit: int | None = None) -> tuple[str, ...]:
    if tags is None:
        return ()
    if limit is not None:
        check_count(tags, field, limit)
    out = []
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not _is_tag(tag):
            raise ValidationError(
                f"invalid {field}[{i}] {tag!r}: tags are 1-64 letters, digits, '_', '-' or '.'",
                f"{field}[{i}]",
            )
        out.append(tag)
    return tuple(out)


def split_tags(
    tags: str | list[str] | None, field: str = "tags", limit: int | None = None
) -> tuple[str, ...]:
    """Tags as the list endpoint takes them: comma-separated (trimmed), or already a list."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    return check_tags(tags, field, limit)


def check_content(value: Any, field: str, max_length: int | None) -> str:
    if not isinstance(value, str) or value == "":
        raise ValidationError(f"{field} is required", field)
    if "\x00" in value:
        raise ValidationError(f"invalid {field}: NUL characters are not allowed", field)
    if max_length is not None and len(value) > max_length:
        raise ValidationError(
            f"{field} is too long: {len(value)} characters, the limit is {max_length}", field
        )
    return check_unicode(value, field)


def check_importance(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"invalid {field}: must be a number between 0 and 1", field)
    if not 0 <= value <= 1:
        raise ValidationError(f"invalid {field}: {value} is outside 0..1", field)
    return float(value)


def _nesting_depth(value: Any, stop_above: int) -> int:
    """How deeply `value` nests objects and arrays, counted without recursion (so any depth is safe), and
    abandoned as soon as it exceeds `stop_above`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > stop_above:
                return deepest
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list, tuple)))
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list, tuple)))
    return deepest


def check_depth(value: Any, field: str, max_depth: int) -> None:
    """`ValidationError` naming `field` when `value` nests objects and arrays deeper than `max_depth` levels."""
    if _nesting_depth(value, max_depth) > max_depth:
        raise ValidationError(f"invalid {field}: nested deeper than {max_depth} levels", field)


_METADATA_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Compact JSON, made once: `json.dumps` with these options builds a new encoder on every call."""


def encode_metadata(
    value: Any,
    field: str,
    *,
    max_bytes: int = MAX_METADATA_BYTES,
    max_depth: int = MAX_METADATA_DEPTH,
) -> str | None:
    """`value` (a dict) as compact JSON, or None when empty; bounded in depth and UTF-8 size."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError(f"invalid {field}: must be a JSON object", field)
    if not value:
        return None
    try:
        text = _METADATA_ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        check_depth(value, field, max_depth)  # too deep is the clearer message, when it is the cause
        raise ValidationError(f"invalid {field}: not JSON-serialisable ({exc})", field) from None
    # Every level of nesting opens a bracket, so JSON with at most `max_depth` of them cannot be too deep:
    # two C-speed counts spare the walk for almost every write (it was ~40% of this function's time).
    if text.count("{") + text.count("[") > max_depth:
        check_depth(value, field, max_depth)
    # ASCII text is its own UTF-8; only other text needs encoding to be sized (and checked for lone surrogates).
    size = len(text) if text.isascii() else len(check_unicode(text, field).encode("utf-8"))
    if size > max_bytes:
        raise ValidationError(
            f"invalid {field}: {size} bytes of JSON, at most {max_bytes} are allowed", field
        )
    return text


def check_dedup_key(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_DEDUP_KEY_LENGTH or "\x00" in value:
        raise ValidationError(
            f"invalid {field}: a string of at most {MAX_DEDUP_KEY_LENGTH} characters", field
        )
    return check_unicode(value, field)


def check_limit(value: Any, field: str, default: int) -> int:
    if value is None or value == 0:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"invalid {field}: must be a positive integer", field)
    if value > MAX_LIMIT:
        raise ValidationError(f"invalid {field}: at most {MAX_LIMIT}", field)
    return value


def check_offset(value: Any, field: str = "offset") -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > MAX_OFFSET:
        raise ValidationError(f"invalid {field}: must be an integer from 0 to {MAX_OFFSET}", field)
    return value


def check_order(value: Any, field: str = "order") -> Literal["asc", "desc"]:
    if value is None or value == "":
        return "desc"
    if value == "asc":
        return "asc"
    if value == "desc":
        return "desc"
    raise ValidationError(f"invalid {field}: must be 'asc' or 'desc'", field)


def check_text(value: Any, field: str, *, max_length: int = 10_000) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "\x00" in value or len(value) > max_length:
        raise ValidationError(
            f"invalid {field}: a string of at most {max_length} characters without NUL", field
        )
    return check_unicode(value, field)


MIN_TTL_SECONDS = 1
MAX_TTL_SECONDS = MAX_RELATIVE_SECONDS
"""A ttl is 1 second to 10 years (the relative-time rule of `memtrace.timeparse`); further is `expires_at`."""


def parse_duration(value: Any, field: str, *, min_seconds: int, max_seconds: int) -> int:
    """A duration written ``<n><unit>`` (unit s, m, h, d or w: ``30m``, ``12h``, ``7d``) in microseconds,
    between `min_seconds` and `max_seconds`; else a `ValidationError` naming `field`."""
    us = parse_relative(value) if isinstance(value, str) else None
    if us is None:
        raise ValidationError(
            f"invalid {field}: {str(value)[:64]!r} is not a duration like 30m, 12h, 7d or 4w", field
        )
    if not min_seconds * 1_000_000 <= us <= max_seconds * 1_000_000:
        raise ValidationError(
            f"invalid {field}: {value!r} is outside {_seconds_text(min_seconds)} to {_seconds_text(max_seconds)}",
            field,
        )
    return us


def _seconds_text(seconds: int) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit if n != 1 else unit[:-1]}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def check_expiry(ttl: Any, expires_at: Any, prefix: str, now_us: int) -> int | None:
    """When a memory written at `now_us` expires, in UTC microseconds, from its ``ttl`` (relative to `now_us`)
    or ``expires_at`` (absolute, after `now_us`); None when neither is given. Both at once is an error, and so is
    an ``expires_at`` already past: a memory that could never be read is more likely a bug than a wish."""
    if ttl in (None, ""):
        ttl = None
    if ttl is not None and expires_at is not None:
        raise ValidationError(
            f"{prefix}expires_at: give either ttl or expires_at, not both", f"{prefix}expires_at"
        )
    if ttl is not None:
        field = f"{prefix}ttl"
        lifetime = parse_duration(ttl, field, min_seconds=MIN_TTL_SECONDS, max_seconds=MAX_TTL_SECONDS)
        return check_time_us(now_us + lifetime, field)
    if expires_at is not None:
        field = f"{prefix}expires_at"
        at = to_checked_us(expires_at, field)
        if at <= now_us:
            raise ValidationError(
                f"invalid {field}: it is in the past; an expiry must be in the future", field
            )
        return at
    return None
