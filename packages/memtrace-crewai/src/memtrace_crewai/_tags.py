"""How CrewAI's hierarchy becomes memtrace tags.

memtrace filters memories by whole tags (ANDed), and a tag is at most 64 characters of ``[a-zA-Z0-9_.-]``.
CrewAI organises memories by scope path (``/crew/research/agent/writer``), by free-form categories, and by record
id. Each of these becomes a tag, so that the store does the filtering:

- a record carries one tag per ancestor of its scope (``s.crew``, ``s.crew.research``, ...), so "everything
  under ``/crew/research``" is a single tag filter, and ``/crew/res`` never matches ``/crew/research``;
- each category becomes ``c.<name>``, the record id ``id.<id>``; a record saved with an embedding carries
  ``emb.vector``.

A value that does not fit the tag alphabet (spaces, dots, slashes, non-ASCII, too long) is hashed instead
(``sh.``/``ch.``/``idh.`` + 32 hex). Readable and hashed tags use different prefixes, so they never collide.
"""

from __future__ import annotations

import hashlib
import re

EMBEDDED_TAG = "emb.vector"
"""Carried by records saved with an embedding, so the partition's embedding size is one lookup away."""

_TAG = re.compile(r"^[a-zA-Z0-9_.\-]{1,64}$")
_SEGMENT = re.compile(r"^[a-zA-Z0-9_-]+$")


def is_valid_tag(value: str) -> bool:
    """Whether memtrace accepts `value` as a tag."""
    return bool(_TAG.fullmatch(value))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def normalize_scope(scope: str | None) -> str:
    """``/a/b`` form: one leading slash, no trailing or doubled slashes; ``/`` for the root."""
    parts = [p for p in (scope or "").split("/") if p]
    return "/" + "/".join(parts)


def scope_segments(scope: str | None) -> list[str]:
    return [p for p in (scope or "").split("/") if p]


def scope_tag(scope: str) -> str | None:
    """The tag shared by every record at or below `scope`; None for the root (which holds everything)."""
    segments = scope_segments(scope)
    if not segments:
        return None
    if all(_SEGMENT.fullmatch(s) for s in segments):
        readable = "s." + ".".join(segments)
        if len(readable) <= 64:
            return readable
    return "sh." + _digest("/" + "/".join(segments))


def scope_tags(scope: str) -> list[str]:
    """Tags for `scope` and each of its ancestors (not the root), shallowest first."""
    segments = scope_segments(scope)
    tags: list[str] = []
    for depth in range(1, len(segments) + 1):
        tag = scope_tag("/" + "/".join(segments[:depth]))
        if tag is not None:
            tags.append(tag)
    return tags


def category_tag(category: str) -> str:
    readable = "c." + category
    if _SEGMENT.fullmatch(category) and len(readable) <= 64:
        return readable
    return "ch." + _digest(category)


def record_id_tag(record_id: str) -> str:
    readable = "id." + record_id
    if _SEGMENT.fullmatch(record_id) and len(readable) <= 64:
        return readable
    return "idh." + _digest(record_id)


def partition_tag(name: str, value: str) -> str:
    """A tag naming a partition such as a crew (``crew.<id>``)."""
    readable = f"{name}.{value}"
    if _SEGMENT.fullmatch(value) and len(readable) <= 64:
        return readable
    return f"{name}h.{_digest(value)}"
