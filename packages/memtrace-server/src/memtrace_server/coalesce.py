"""Group commit for single-memory writes: concurrent ``POST /api/v1/memories`` of one organisation share one
engine batch (one transaction, one fsync) instead of paying one each.

Nothing waits on purpose: while a write is in flight, the writes that arrive queue up, and the next engine
call takes them all. A lone request is stored with `Engine.add_memory` exactly as before. Every request still
gets its own answer, as if it had been written alone:

- an invalid request fails alone: the engine names the failing item (``memories[3].content``); that request
  gets the error (``content``, as a single write would say it) and the rest are retried without it. Nothing
  is written by a batch that fails validation, so the retry cannot double-write;
- a duplicate gets 409: the engine's batch result says which items it skipped (``skipped_indexes``), and the
  written memories come back in request order;
- a write that supersedes memories by id is stored alone (its target may be unknown or already superseded,
  an error no other request must share). Keyed writes group like any other: their only failure is a duplicate.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from memtrace.engine import Engine
from memtrace.errors import ConflictError, ValidationError
from memtrace.models import AddMemoryRequest, BatchResult, Memory

if TYPE_CHECKING:
    from .state import ServerState

MAX_GROUP = 256
"""Largest group per engine call: big enough to amortise a transaction, small enough to bound latency."""

_ITEM_FIELD = re.compile(r"^memories\[(\d+)\]\.?(.*)$")


@dataclass
class _Pending:
    req: AddMemoryRequest
    future: asyncio.Future[Memory] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class SingleWriteCoalescer:
    """One per server. `add` has the contract of `Engine.add_memory`."""

    def __init__(self, state: ServerState, *, max_group: int = MAX_GROUP) -> None:
        self.state = state
        self.max_group = max_group
        self._queues: dict[str, list[_Pending]] = {}
        self._draining: set[str] = set()
        # The event loop holds tasks only weakly: keep each drain alive until it is done.
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def engine(self) -> Engine:
        return self.state.engine

    async def add(self, org_id: str, req: AddMemoryRequest) -> Memory:
        if req.supersedes:
            # Its errors (a target unknown, or already superseded) are its own, never the group's.
            return await self.state.run(self.engine.add_memory, org_id, req)
        item = _Pending(req)
        # If the caller stops waiting (client gone), its error must not be reported as never retrieved.
        item.future.add_done_callback(_consume)
        self._queues.setdefault(org_id, []).append(item)
        if org_id not in self._draining:
            self._draining.add(org_id)
            self._start_drain(org_id)
        # shield: a client that disconnects must not cancel a write others share; it just stops waiting.
        return await asyncio.shield(item.future)

    def _start_drain(self, org_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._drain(org_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, org_id: str) -> None:
        try:
            while queue := self._queues.pop(org_id, None):
                for start in range(0, len(queue), self.max_group):
                    group = queue[start : start + self.max_group]
                    try:
                        await self._write(org_id, group)
                    except BaseException as exc:  # never leave a caller waiting
                        for item in group:
                            if not item.future.done():
                                item.future.set_exception(exc)
                        if not isinstance(exc, Exception):
                            raise
        finally:
            self._draining.discard(org_id)
            if org_id in self._queues:  # arrived after the last pop; serve them too
                self._draining.add(org_id)
                self._start_drain(org_id)

    async def _write(self, org_id: str, group: list[_Pending]) -> None:
        pending = list(group)
        while len(pending) > 1:
            self.state.metrics.group_size.observe(len(pending))
            try:
                result = await self.state.run(self.engine.add_memories, org_id, [p.req for p in pending])
            except ValidationError as exc:
                failed = _failed_item(exc, len(pending))
                if failed is None:
                    raise
                index, error = failed
                pending.pop(index).future.set_exception(error)
                continue
            self._deliver(pending, result)
            return
        if pending:
            self.state.metrics.group_size.observe(1)
            item = pending[0]
            try:
                item.future.set_result(await self.state.run(self.engine.add_memory, org_id, item.req))
            except Exception as exc:
                item.future.set_exception(exc)

    def _deliver(self, pending: list[_Pending], result: BatchResult) -> None:
        skipped = set(result.skipped_indexes)
        written = iter(result)
        for i, item in enumerate(pending):
            if i in skipped:
                item.future.set_exception(ConflictError("duplicate memory"))
            else:
                item.future.set_result(next(written))


def _consume(future: asyncio.Future[Memory]) -> None:
    if not future.cancelled():
        future.exception()


def _failed_item(exc: ValidationError, size: int) -> tuple[int, ValidationError] | None:
    """Which item of a batch failed, and the error as a single write of it would have raised."""
    match = _ITEM_FIELD.match(exc.field or "")
    if match is None or int(match.group(1)) >= size:
        return None
    index = int(match.group(1))
    prefix = f"memories[{index}]."
    field_name = match.group(2) or "request"
    message = exc.message.replace(prefix, "").replace(f"memories[{index}]", field_name)
    return index, ValidationError(message, field_name)
