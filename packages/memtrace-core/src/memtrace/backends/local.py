"""In-process backends: the engine bound to one organisation."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

from ..engine import Engine
from ..sweeper import PeriodicSweeper

if TYPE_CHECKING:
    from ..operations import Operation

R = TypeVar("R")


class LocalBackend:
    """Runs operations on the engine, scoped to `org_id` (the client's configuration, never the caller's input).

    With `sweep_every` (seconds), a `PeriodicSweeper` deletes the org's expired and out-of-policy memories on a
    background thread until the backend is closed."""

    def __init__(
        self, engine: Engine, org_id: str, *, owns_engine: bool = True, sweep_every: float | None = None
    ) -> None:
        self.engine = engine
        self.org_id = org_id
        self._owns_engine = owns_engine
        self.sweeper = PeriodicSweeper(engine, org_id, interval=sweep_every).start() if sweep_every else None

    def execute(self, op: Operation[R], /) -> R:
        return op.run(self.engine, self.org_id)

    def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()  # before the stores close under it
        if self._owns_engine:
            self.engine.close()


class AsyncLocalBackend:
    """The same, run in a worker thread so the event loop never waits on SQLite."""

    def __init__(self, local: LocalBackend) -> None:
        self.local = local

    @property
    def engine(self) -> Engine:
        return self.local.engine

    async def execute(self, op: Operation[R], /) -> R:
        return await asyncio.to_thread(op.run, self.local.engine, self.local.org_id)

    async def close(self) -> None:
        await asyncio.to_thread(self.local.close)
