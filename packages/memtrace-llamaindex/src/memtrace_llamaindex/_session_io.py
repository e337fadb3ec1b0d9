"""Reading a session's memories in order, a page at a time (memtrace returns at most 1,000 per call), and
deleting memories by id.

memtrace memories are immutable; the stores delete exactly the messages they read, by id, atomically per 1,000
ids (memtrace's limit per call), so other memories sharing the session are never touched."""

from __future__ import annotations

from collections.abc import Callable

from memtrace import AsyncMemtrace, ListOptions, Memory, Memtrace

PAGE_SIZE = 1000

OptionsFor = Callable[[int, int], ListOptions]
"""Builds the ListOptions of one page from (offset, limit)."""


def read_memories(
    client: Memtrace, options_for: OptionsFor, *, offset: int = 0, limit: int | None = None
) -> list[Memory]:
    """Up to `limit` memories (all when None) from `offset`, following `has_more` across pages."""
    out: list[Memory] = []
    while limit is None or len(out) < limit:
        page_limit = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(out))
        page = client.list_memories(options_for(offset + len(out), page_limit))
        out.extend(page.memories)
        if not page.has_more or not page.memories:
            break
    return out


async def aread_memories(
    client: AsyncMemtrace, options_for: OptionsFor, *, offset: int = 0, limit: int | None = None
) -> list[Memory]:
    """Async `read_memories`."""
    out: list[Memory] = []
    while limit is None or len(out) < limit:
        page_limit = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(out))
        page = await client.list_memories(options_for(offset + len(out), page_limit))
        out.extend(page.memories)
        if not page.has_more or not page.memories:
            break
    return out


_DELETE_CHUNK = 1000


def delete_ids(client: Memtrace, memory_ids: list[str]) -> None:
    """Delete these memories; one already gone (a concurrent delete) is not an error."""
    for start in range(0, len(memory_ids), _DELETE_CHUNK):
        client.delete_memories(memory_ids=memory_ids[start : start + _DELETE_CHUNK])


async def adelete_ids(client: AsyncMemtrace, memory_ids: list[str]) -> None:
    """Async `delete_ids`."""
    for start in range(0, len(memory_ids), _DELETE_CHUNK):
        await client.delete_memories(memory_ids=memory_ids[start : start + _DELETE_CHUNK])
