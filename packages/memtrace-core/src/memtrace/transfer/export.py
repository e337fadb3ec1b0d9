"""Writing an organisation, or part of it, as an export file (`format.py`), a page of memories at a time.

What is written for a filter: with `agent_id`, that agent (when registered, by id or name) and its sessions;
with `session_id`, that session and its agent; with neither, every agent and session of the organisation. Memories
are those matching every filter, oldest first, ties in the order they were stored (so an import stores them in
that order again). Expired memories not yet swept and superseded fact versions are written too: an export is
what the store holds.

Memory size stays flat: pages of `PAGE` memories are read by time, each page a short read of its own, so a
large export never holds a store lock or its rows in memory. An export of an organisation being written to
holds everything stored before it began; a memory stored meanwhile may or may not be in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from ..records import MemoryFilter, MemoryRecord
from ..stores.base import AgentRow, EventStore, MetadataStore, SessionRow
from .format import Counts, agent_line, header_line, memory_line, session_line, trailer_line
from .options import ExportOptions

PAGE = 2000


def iter_records(
    events: EventStore, org_id: str, flt: MemoryFilter, page: int = PAGE
) -> Iterator[MemoryRecord]:
    """Every memory matching `flt`, oldest first, ties in stored order, read `page` at a time.

    Pages follow a time cursor rather than a growing offset (which makes each page re-skip all before it):
    the next page starts at the last time seen, skipping the memories of that time already given, which are
    the first ones of it in stored order."""
    since_us = flt.since_us
    given_at_cursor = 0
    while True:
        rows = events.query(
            org_id,
            dataclasses.replace(flt, since_us=since_us),
            order="asc",
            limit=page,
            offset=given_at_cursor,
        )
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1].time_us
        at_last = sum(1 for r in rows if r.time_us == last)
        cursor = last - 1  # since is exclusive: the next page starts with the memories of time `last`
        given_at_cursor = given_at_cursor + at_last if cursor == since_us else at_last
        since_us = cursor


@dataclass(frozen=True)
class ExportPlan:
    """A validated export: the filter and the rows it covers, written by `chunks()`."""

    org_id: str
    options: ExportOptions
    memory_filter: MemoryFilter
    exported_at_us: int

    def agents_and_sessions(self, metadata: MetadataStore) -> tuple[list[AgentRow], list[SessionRow]]:
        flt = self.memory_filter
        if flt.session_id is not None:
            session = metadata.get_session(self.org_id, flt.session_id)
            sessions = [session] if session is not None and flt.agent_id in (None, session.agent_id) else []
            agent_ids = {s.agent_id for s in sessions}
        elif flt.agent_id is not None:
            sessions = metadata.list_sessions(self.org_id, flt.agent_id)
            agent_ids = {flt.agent_id}
        else:
            sessions = metadata.list_sessions(self.org_id, None)
            agent_ids = None
        # Memories and sessions name an agent by its id or by its name (both are accepted everywhere).
        agents = [
            a
            for a in metadata.list_agents(self.org_id)
            if agent_ids is None or a.id in agent_ids or a.name in agent_ids
        ]
        # Oldest first, like the memories: an import creates them in the order they were made.
        agents.sort(key=lambda a: (a.created_us, a.id))
        sessions.sort(key=lambda s: (s.created_us, s.id))
        return agents, sessions

    def chunks(
        self, events: EventStore, metadata: MetadataStore, counts: Counts | None = None
    ) -> Iterator[bytes]:
        """The file, in chunks of whole lines; `counts` (when given) follows what has been written."""
        counts = counts if counts is not None else Counts()
        yield header_line(self.org_id, self.exported_at_us, self.options.model_dump(exclude_none=True))
        agents, sessions = self.agents_and_sessions(metadata)
        for agent in agents:
            counts.agents += 1
            yield agent_line(agent)
        for session in sessions:
            counts.sessions += 1
            yield session_line(session)
        batch: list[bytes] = []
        for record in iter_records(events, self.org_id, self.memory_filter):
            counts.memories += 1
            batch.append(memory_line(record))
            if len(batch) == PAGE:
                # One chunk per page: a streamed response sends one body part per chunk, not one per line.
                yield b"".join(batch)
                batch = []
        if batch:
            yield b"".join(batch)
        yield trailer_line(counts)


__all__ = ["PAGE", "ExportPlan", "iter_records"]
