"""Reading a session's memories in order, a page at a time (memtrace returns at most 1,000 per call), and
deleting memories by id.

memtrace memories are immutable and a bulk delete filters only by agent, session and time, which would also
remove other event types sharing the session. So the stores delete their own messages one id at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from memtrace import AsyncMemtrace, ListOptions, Memory, Memtrace, NotFoundError

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


def delete_ids(client: Memtrace, memory_ids: list[str]) -> None:
    """Delete each memory; one already gone (a concurrent delete) is not an error."""
    for memory_id in memory_ids:
        with contextlib.suppress(NotFoundError):
            client.delete_memory(memory_id)


async def adelete_ids(client: AsyncMemtrace, memory_ids: list[str]) -> None:
    """Async `delete_ids`."""
    for memory_id in memory_ids:
        with contextlib.suppress(NotFoundError):
            await client.delete_memory(memory_id)
