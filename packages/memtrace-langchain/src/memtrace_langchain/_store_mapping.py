"""How a LangGraph store item (namespace, key, value) is laid out as a memtrace memory.

| LangGraph            | memtrace memory                                                                |
|----------------------|--------------------------------------------------------------------------------|
| the store            | ``agent_id`` (default ``langgraph``), ``event_type="store_item"``              |
| namespace            | ``session_id = id_for_key(".".join(namespace))``; one ``ns-<hash>`` tag per    |
|                      | namespace prefix, so prefix search is a tag filter                             |
| key                  | a ``key-<hash>`` tag, and the fact key ``langgraph:<hash of agent, namespace,  |
|                      | key>`` (memtrace's facts that change)                                          |
| value                | ``metadata["store"]["value"]`` (exact JSON)                                    |
| searchable text      | ``content``: the indexed fields' text (ranked by keyword search)               |
| created_at           | ``metadata["store"]["created_at"]`` (kept across updates)                      |
| updated_at           | the memory's ``time``                                                          |

An item is a keyed fact: a put writes the item's new version, which supersedes the current one in the same
transaction (the old value stays in the fact's history, `Memtrace.fact_history`), and every read sees current
versions only. Deleting an item deletes every version of it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from langgraph.store.base import InvalidNamespaceError, Item, get_text_at_path, tokenize_path

from memtrace import AddMemoryRequest, Memory, ValidationError, id_for_key

EVENT_TYPE = "store_item"
META_KEY = "store"
MAX_CONTENT_CHARS = 32_000
"""Content is only the searchable copy (the value is in metadata), so very long text is cut here."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def check_namespace(namespace: tuple[str, ...], *, allow_empty: bool = False) -> tuple[str, ...]:
    """LangGraph's label rules (non-empty strings without ``.``), which the ``.``-joined mapping relies on.
    Checked here too because `batch` may be called directly, bypassing `BaseStore.put`'s checks."""
    namespace = tuple(namespace)
    if not namespace and not allow_empty:
        raise InvalidNamespaceError("Namespace cannot be empty.")
    for label in namespace:
        if not isinstance(label, str) or not label or "." in label or "\x00" in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} in {namespace}: labels are non-empty strings without '.'"
            )
    return namespace


def namespace_session_id(namespace: tuple[str, ...]) -> str:
    """``("memories",)`` -> ``memories``; ``("users", "u-1")`` -> ``k_users-u-1_<16 hex>``."""
    return id_for_key(".".join(namespace))


def prefix_tag(prefix: tuple[str, ...]) -> str:
    """The tag every item whose namespace starts with `prefix` carries."""
    return "ns-" + _digest(".".join(prefix))


def key_tag(key: str) -> str:
    return "key-" + _digest(key)


def fact_key(agent_id: str, namespace: tuple[str, ...], key: str) -> str:
    """The memtrace fact key of an item: hashed (labels and keys may hold any character), per store agent so
    two stores on one memtrace stay independent."""
    text = "\x00".join((agent_id, ".".join(namespace), key))
    return "langgraph:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def searchable_text(value: Mapping[str, Any], fields: list[str] | None) -> str:
    """The text keyword search ranks: the given field paths (LangGraph path syntax), or the whole value."""
    if fields:
        texts = [t for path in fields for t in get_text_at_path(value, tokenize_path(path))]
    else:
        texts = list(_leaves(value))
    return "\n".join(t for t in texts if t).replace("\x00", "")[:MAX_CONTENT_CHARS]


def _leaves(value: Any, path: str = "") -> list[str]:
    """``path: text`` for every scalar in `value`: readable in memtrace session context, and every word
    searchable."""
    if isinstance(value, Mapping):
        return [line for k, v in value.items() for line in _leaves(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, (list, tuple)):
        return [line for i, v in enumerate(value) for line in _leaves(v, f"{path}[{i}]")]
    if value is None:
        return []
    return [f"{path}: {value}" if path else str(value)]


def item_request(
    *,
    agent_id: str,
    memory_type: str,
    namespace: tuple[str, ...],
    key: str,
    value: Mapping[str, Any],
    index: Literal[False] | list[str] | None,
    default_fields: list[str] | None,
    created_at: str | None,
) -> AddMemoryRequest:
    indexed = index is not False
    text = searchable_text(value, index or default_fields) if indexed else ""
    return AddMemoryRequest(
        agent_id=agent_id,
        session_id=namespace_session_id(namespace),
        memory_type=memory_type,
        event_type=EVENT_TYPE,
        # memtrace requires content; an item with nothing to index is filed under its key.
        content=text or key,
        tags=[*(prefix_tag(namespace[:d]) for d in range(1, len(namespace) + 1)), key_tag(key)],
        metadata={
            META_KEY: {
                "namespace": list(namespace),
                "key": key,
                "value": json_copy(value, namespace, key),
                "created_at": created_at,
                "indexed": indexed,
                # Writing the same value twice is a legitimate update (updated_at moves), not a duplicate.
                "put": os.urandom(8).hex(),
            }
        },
        key=fact_key(agent_id, namespace, key),
    )


def json_copy(value: Mapping[str, Any], namespace: tuple[str, ...], key: str) -> Any:
    """A plain JSON copy of `value`, as LangGraph's SQL stores keep. A value JSON cannot carry exactly (NaN,
    an arbitrary object) is refused, the same way embedded and remote."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"value of {namespace}/{key!r} cannot be stored exactly as JSON: {exc}", "value"
        ) from None


def stored(memory: Memory) -> dict[str, Any] | None:
    """The item record in a memory, or None for a memory that is not a store item."""
    data = (memory.metadata or {}).get(META_KEY)
    if not isinstance(data, dict) or not isinstance(data.get("namespace"), list) or "key" not in data:
        return None
    return data


def item_from_memory(memory: Memory, data: dict[str, Any]) -> Item:
    created = data.get("created_at")
    return Item(
        value=data.get("value") or {},
        key=data["key"],
        namespace=tuple(data["namespace"]),
        created_at=datetime.fromisoformat(created) if created else memory.time,
        updated_at=memory.time,
    )


def matches_filter(value: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    """LangGraph's filter semantics (as its InMemoryStore and SQL stores apply them): every key must match;
    a value matches by equality, a nested dict recursively, and ``{"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": x}``
    by comparison. A dotted key that is not a key of the value is a path into nested dicts
    (``{"user.level": 2}``), as in LangGraph's SQLite and PostgreSQL stores."""
    return not flt or all(_compare(_lookup(value, k), expected) for k, expected in flt.items())


def _lookup(value: Mapping[str, Any], key: str) -> Any:
    if key in value or "." not in key:
        return value.get(key)
    found: Any = value
    for part in key.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return None
        found = found[part]
    return found


def _compare(actual: Any, expected: Any) -> bool:
    if isinstance(expected, Mapping):
        if any(str(k).startswith("$") for k in expected):
            return all(_operator(actual, op, operand) for op, operand in expected.items())
        return isinstance(actual, Mapping) and all(_compare(actual.get(k), v) for k, v in expected.items())
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(expected)
            and all(_compare(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def _operator(actual: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(actual == operand)
    if op == "$ne":
        return bool(actual != operand)
    if op not in ("$gt", "$gte", "$lt", "$lte"):
        raise ValueError(f"Unsupported operator: {op}")
    try:
        a, b = float(actual), float(operand)
    except (TypeError, ValueError):
        return False  # a missing or non-numeric value never satisfies a numeric comparison
    return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]
