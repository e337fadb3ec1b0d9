"""Reading a memory line: a line with every field is read in one pass (`ExportReader._whole_memory`), any other
line (an older file's, one without a dedup key) the field-by-field way that names problems. Whichever way a line
is read, it must give the same record or the same error: the one-pass way must never take a value the other
refuses, nor read one differently."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from memtrace.records import MemoryRecord
from memtrace.transfer.format import (
    MEMORY_FIELDS,
    Counts,
    ExportReader,
    LineError,
    ReadLimits,
    header_line,
    memory_line,
    trailer_line,
)

LIMITS = ReadLimits(max_content_length=40, max_tags=2, max_metadata_bytes=30)
BASE = MemoryRecord(
    id="mem_06gv0eq7hxzqe6ypwv4ers83zc",
    org_id="org_src",
    time_us=1793958012815224,
    agent_id="agent_1",
    session_id=None,
    memory_type="episodic",
    event_type="task_completed",
    content="Deploy finished",
    metadata_json=None,
    tags=("billing",),
    dedup_key="97b0c1c773133f27bc9f57ca720d9928",
    importance=0.5,
    parent_id=None,
)
_ID_TIME_US = BASE.time_us  # what the id carries (to the ms)
LONE = "\ud800"  # a lone surrogate: JSON can say it, UTF-8 cannot

# field -> values to try: some every check takes, most refused, the edges of each rule.
VALUES: dict[str, list[Any]] = {
    "id": [
        "mem_06gv0eq7hxzqe6ypwv4ers83zz",
        "mem_06GV0EQ7HXZQE6YPWV4ERS83ZC",
        "mem_06gv0eq7hxzqe6ypwv4ers83z",
        "mem_16gv0eq7hxzqe6ypwv4ers83zc",
        "mem_06gv0eq7hxzqe6ypwv4ers83zi",
        7,
        None,
        "",
    ],
    "time_us": [
        _ID_TIME_US + 999 - _ID_TIME_US % 1000,
        _ID_TIME_US + 1000,
        True,
        1.5e15,
        "1",
        None,
        -1,
        2**70,
    ],
    "agent_id": ["a", "a" * 128, "a" * 129, "", None, "1a", "a b", "a-b_c", 5, ["a"]],
    "session_id": ["s1", "", "s 1", 5, "s" * 129, {}],
    "memory_type": ["entity", "decision", "EPISODIC", "", None, 3, [], {}],
    "event_type": ["x", "x" * 64, "x" * 65, "", "1x", None, "a-b", 2],
    "content": ["é", "x" * 40, "x" * 41, "", None, "a\x00b", LONE, 5, ["x"]],
    "metadata_json": [
        "{}",
        '{"a": [1, 2.50]}',
        "[]",
        "null",
        "{bad",
        '{"a":"' + LONE + '"}',
        "{\x00}",
        '{"k": "' + "x" * 30 + '"}',
        5,
        {},
    ],
    "tags": [[], ["a", "b"], ["a", "b", "c"], "a", ["a b"], [1], None, [""], ["x" * 65], ["a.b-c_d"]],
    "dedup_key": ["", "k" * 256, "k" * 257, "a\x00", LONE, 5, "é"],
    "importance": [0, 1, 0.0, 1.5, -0.1, True, "0.5", float("nan"), float("inf")],
    "parent_id": ["p", "", "p" * 256, "p" * 257, "p\x00", LONE, 5],
    "expires_us": [0, _ID_TIME_US, True, 1.5, "1", -(2**70)],
    "fact_key": ["user:ada/city", "a", "bad key", "a\n", "-a", "a" * 257, 5, ""],
    "valid_from_us": [0, True, 1.5, "x"],
    "valid_until_us": [_ID_TIME_US, False, []],
    "superseded_by": ["mem_x", "", "a\x00", LONE, 5],
}


def _read(body: dict[str, Any]) -> MemoryRecord | str:
    """The record the reader makes of one memory line, or the error it gives (its message)."""
    line = json.dumps({"memory": body}).encode() + b"\n"
    lines = [header_line("org_src", 0, {}), line, trailer_line(Counts(memories=1))]
    try:
        items = list(ExportReader(lines, "org_dst", LIMITS).items())
    except LineError as exc:
        return exc.message
    (item,) = items
    assert isinstance(item.value, MemoryRecord)
    return item.value


def _cases() -> list[tuple[str, Any]]:
    return [(field, value) for field, values in VALUES.items() for value in values]


def test_every_field_has_cases() -> None:
    assert set(VALUES) == set(MEMORY_FIELDS)


@pytest.mark.parametrize(("field", "value"), _cases())
def test_a_whole_line_reads_as_the_field_by_field_way_does(field: str, value: Any) -> None:
    whole = json.loads(memory_line(BASE))["memory"]
    whole[field] = value
    # The same line less one field that is null anyway (as in a file of an older format): read field by field.
    dropped = "valid_until_us" if field != "valid_until_us" else "superseded_by"
    assert whole[dropped] is None
    partial = {k: v for k, v in whole.items() if k != dropped}
    assert _read(whole) == _read(partial)


def test_a_whole_line_keeps_every_field() -> None:
    full = dataclasses.replace(
        BASE,
        org_id="org_dst",
        session_id="s1",
        metadata_json='{"b": 1, "a": 2.50}',
        parent_id="mem_parent",
        expires_us=_ID_TIME_US + 1,
        fact_key="user:ada/city",
        valid_from_us=_ID_TIME_US,
        valid_until_us=_ID_TIME_US + 2,
        superseded_by="mem_next",
        importance=1.0,
    )
    assert _read(json.loads(memory_line(full))["memory"]) == full
