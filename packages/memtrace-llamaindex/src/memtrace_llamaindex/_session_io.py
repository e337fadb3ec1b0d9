"""Deleting memories by id, as a plan for `memtrace.bridge.ClientBridge` (reading pages is
`memtrace.paging.read_memories`).

memtrace memories are immutable; the stores delete exactly the messages they read, by id, atomically per 1,000
ids (memtrace's limit per call), so other memories sharing the session are never touched."""

from __future__ import annotations

from memtrace.bridge import Plan
from memtrace.operations import DeleteMemories

_DELETE_CHUNK = 1000


def delete_ids(memory_ids: list[str]) -> Plan[None]:
    """Delete these memories; one already gone (a concurrent delete) is not an error."""
    for start in range(0, len(memory_ids), _DELETE_CHUNK):
        yield DeleteMemories(memory_ids=memory_ids[start : start + _DELETE_CHUNK])
