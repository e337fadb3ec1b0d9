"""The input bounds the engine enforces, written into the OpenAPI document, so clients (and the schemathesis
run in tests/server) know them: ids, tags and types as patterns, list lengths as ``maxItems``, text lengths as
``maxLength``, numbers as ranges. The engine stays the one place that enforces them (a 400 naming the field);
this only describes them.
"""

from __future__ import annotations

from typing import Any

from memtrace.engine import MAX_DELETE_IDS
from memtrace.ids import ID_PATTERN, MEMORY_ID_PATTERN
from memtrace.limits import MAX_MEMORY_TAGS
from memtrace.validation import MAX_DEDUP_KEY_LENGTH, MAX_LIMIT, MAX_OFFSET, TAG_PATTERN, TYPE_PATTERN

from .config import LimitsSection

ID = {"pattern": ID_PATTERN.pattern, "maxLength": 128}


def input_bounds(limits: LimitsSection) -> dict[str, dict[str, dict[str, Any]]]:
    """Per component schema, per property: the JSON Schema keywords that bound it."""
    tag = {"pattern": TAG_PATTERN.pattern}
    memory = {
        "agent_id": ID,
        "session_id": ID,
        "content": {"minLength": 1, "maxLength": limits.max_content_length},
        "event_type": {"pattern": TYPE_PATTERN.pattern},
        "tags": {"maxItems": MAX_MEMORY_TAGS, "items": tag},
        "dedup_key": {"maxLength": MAX_DEDUP_KEY_LENGTH},
    }
    filter_tags = {"maxItems": limits.max_filter_tags, "items": tag}
    filter_types = {"maxItems": limits.max_filter_types}
    return {
        "AddMemoryRequest": memory,
        "BatchCreateRequest": {"memories": {"minItems": 1}},
        "SearchQuery": {
            "agent_id": ID,
            "session_id": ID,
            "tags": filter_tags,
            "event_types": {**filter_types, "items": {"pattern": TYPE_PATTERN.pattern}},
            "memory_types": filter_types,
            "limit": {"minimum": 1, "maximum": MAX_LIMIT},
            "offset": {"minimum": 0, "maximum": MAX_OFFSET},
            "min_importance": {"minimum": 0, "maximum": 1},
        },
        "DeleteMemoriesRequest": {
            "agent_id": ID,
            "session_id": ID,
            "memory_ids": {"maxItems": MAX_DELETE_IDS, "items": {"pattern": MEMORY_ID_PATTERN.pattern}},
            "tags": filter_tags,
        },
    }


def document_bounds(schema: dict[str, Any], limits: LimitsSection) -> None:
    """Add `input_bounds` to the component schemas of an OpenAPI document, in place. An optional property
    (``anyOf: [<type>, null]``) gets the bounds on its non-null branch."""
    components = schema.get("components", {}).get("schemas", {})
    batch = components.get("BatchCreateRequest")
    if batch is not None:  # a batch is a non-empty list; without one the body is a single memory
        memories = batch["properties"]["memories"]
        memories["anyOf"] = [b for b in memories.get("anyOf", []) if b.get("type") != "null"] or memories[
            "anyOf"
        ]
        memories.pop("default", None)
        batch["required"] = ["memories"]
    for name, properties in input_bounds(limits).items():
        model = components.get(name)
        if model is None:
            continue
        for prop, bounds in properties.items():
            target = model.get("properties", {}).get(prop)
            if target is None:
                continue
            for branch in target.get("anyOf", [target]):
                if branch.get("type") == "null":
                    continue
                _apply(branch, bounds)


def _apply(branch: dict[str, Any], bounds: dict[str, Any]) -> None:
    kind = branch.get("type")
    for keyword, value in bounds.items():
        if keyword == "items":
            if kind == "array":
                _apply(branch.setdefault("items", {}), value)
        elif keyword in ("maxItems", "minItems"):
            if kind == "array":
                branch[keyword] = value
        elif keyword in ("pattern", "maxLength", "minLength"):
            if kind == "string":
                branch[keyword] = value
        elif kind in ("integer", "number"):
            branch[keyword] = value
