"""The backend protocols: how a client reaches an engine.

A backend executes one typed `Operation[R]` and returns its ``R`` (or raises a `MemtraceError`), as an httpx
transport handles one `Request` and returns one `Response`. `LocalBackend` runs operations on an in-process
engine, `HttpBackend` sends them to a memtrace server; the async variants are the same with ``await``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from ..operations import Operation

R = TypeVar("R")


class Backend(Protocol):
    def execute(self, op: Operation[R], /) -> R:
        """Carry out `op`; return its result or raise a `MemtraceError`."""
        ...

    def close(self) -> None: ...


class AsyncBackend(Protocol):
    async def execute(self, op: Operation[R], /) -> R:
        """Carry out `op`; return its result or raise a `MemtraceError`."""
        ...

    async def close(self) -> None: ...
