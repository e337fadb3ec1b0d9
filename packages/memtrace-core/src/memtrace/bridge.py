"""One memtrace client, usable from sync code and from async code, whichever kind it is.

Framework adapters are handed a client by the user, sync (`Memtrace`) or async (`AsyncMemtrace`), and are called
by their framework from sync methods, async methods, or both. `ClientBridge` runs operations either way:

=====================  ========================================  =============================================
client                 from async code (`aexecute`, `arun`)      from sync code (`execute`, `run`)
=====================  ========================================  =============================================
`Memtrace`             in a worker thread (``asyncio.to_thread``)  directly
embedded `AsyncMemtrace`  awaited                                directly on the engine (no event loop needed)
remote `AsyncMemtrace`  awaited                                  on one background event loop thread, which is
                                                                 safe even from inside a running event loop
=====================  ========================================  =============================================

Work is expressed as `memtrace.operations` values (``AddMemory(req)``), or, when one adapter method needs
several calls, as a *plan*: a generator that yields operations and receives each result (or has its exception
thrown in, so it can catch e.g. `ConflictError`). A plan is written once and runs sync or async::

    def remember_once(req: AddMemoryRequest) -> Plan[Memory | None]:
        try:
            return (yield AddMemory(req))
        except ConflictError:
            return None

    bridge = ClientBridge(client)
    bridge.run(remember_once(req))          # sync code
    await bridge.arun(remember_once(req))   # async code

`memtrace.paging.read_memories(opts)` is such a plan (every page of a listing).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Generator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from .backends.local import AsyncLocalBackend
from .client import AsyncMemtrace, Memtrace
from .operations import Operation

T = TypeVar("T")
R = TypeVar("R")

AnyMemtrace: TypeAlias = Memtrace | AsyncMemtrace
"""A memtrace client of either kind, embedded or remote."""


@dataclass(frozen=True, slots=True)
class Together:
    """Independent operations a plan hands over at once (``results = yield Together(ops)``): a remote async
    client sends them concurrently, as one round trip's worth of waiting rather than one each; anywhere else
    they run in order. The plan is sent their results, in order; the first error is thrown into it.

    A plan answering many lookups (a LangGraph ``batch`` of gets) yields them together instead of one by one.
    """

    ops: Sequence[Operation[Any]]


Plan: TypeAlias = Generator[Operation[Any] | Together, Any, T]
"""Work that needs several operations: yields each operation (or several `Together`), is sent its result,
returns a `T`."""


def map_operations(plan: Plan[T], change: Callable[[Operation[Any]], Operation[Any]]) -> Plan[T]:
    """`plan` with every operation (each one of a `Together` too) passed through `change` before it runs: how
    an adapter adds what its framework needs (its own tags and filters) to a plan core wrote, without copying
    the plan. Results and errors go back to `plan` unchanged."""
    try:
        op = next(plan)
        while True:
            try:
                result = (
                    yield Together([change(o) for o in op.ops]) if isinstance(op, Together) else change(op)
                )
            except Exception as exc:  # the plan decides whether it is fatal, as when run directly
                op = plan.throw(exc)
            else:
                op = plan.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value
    finally:
        plan.close()


def concurrently(plans: Sequence[Plan[T]]) -> Plan[list[T]]:
    """Several independent plans as one, stepped in lockstep: each round hands every unfinished plan's next
    operation over in one `Together`, so a remote async client waits one round trip per round instead of one
    per operation of every plan. Results in the plans' order; an error fails the whole (as running the plans
    one after another would at the first failing operation)."""
    results: list[T | None] = [None] * len(plans)
    pending: dict[int, Operation[Any] | Together] = {}
    try:
        for i, plan in enumerate(plans):
            try:
                pending[i] = next(plan)
            except StopIteration as stop:
                results[i] = stop.value
        while pending:
            ops: list[Operation[Any]] = []
            spans: list[
                tuple[int, int, int, bool]
            ] = []  # plan, first op, how many, whether it asked Together
            for i, op in pending.items():
                if isinstance(op, Together):
                    spans.append((i, len(ops), len(op.ops), True))
                    ops.extend(op.ops)
                else:
                    spans.append((i, len(ops), 1, False))
                    ops.append(op)
            answers = yield Together(ops)
            for i, start, count, together in spans:
                answer = answers[start : start + count] if together else answers[start]
                try:
                    pending[i] = plans[i].send(answer)
                except StopIteration as stop:
                    results[i] = stop.value
                    del pending[i]
    finally:
        for plan in plans:
            plan.close()
    return results  # type: ignore[return-value]  # every slot was filled by its plan's return


def check_client(client: object, owner: str = "client") -> AnyMemtrace:
    """`client` if it is a `Memtrace` or `AsyncMemtrace`, else a `TypeError` naming `owner` (at construction,
    rather than on first use)."""
    if not isinstance(client, (Memtrace, AsyncMemtrace)):
        raise TypeError(
            f"{owner}: client must be a memtrace.Memtrace or memtrace.AsyncMemtrace, got {type(client).__name__}"
        )
    return client


class _LoopThread:
    """One event loop running forever in a daemon thread, for async clients called from sync code."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        loop = self._running_loop()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a memtrace sync call was made from inside the bridge's own event loop; use the async method"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="memtrace-bridge", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop


_BACKGROUND = _LoopThread()


def run_coroutine_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from sync code, on the bridge's background event loop (safe from inside a
    running loop, which keeps running meanwhile only if it is in another thread: the calling thread waits)."""
    return _BACKGROUND.submit(coro).result()


class ClientBridge:
    """Runs operations and plans on one client, from sync or async code (see the module docstring)."""

    __slots__ = ("client", "is_async")

    def __init__(self, client: AnyMemtrace, *, owner: str = "client") -> None:
        self.client: AnyMemtrace = check_client(client, owner)
        self.is_async = isinstance(client, AsyncMemtrace)

    # --- single operations

    def execute(self, op: Operation[R]) -> R:
        """Carry out `op` from sync code."""
        client = self.client
        if isinstance(client, Memtrace):
            return client.execute(op)
        backend = client._backend
        if isinstance(backend, AsyncLocalBackend):
            return backend.local.execute(op)  # embedded: no event loop needed at all
        return run_coroutine_blocking(client.execute(op))

    async def aexecute(self, op: Operation[R]) -> R:
        """Carry out `op` from async code without blocking the event loop."""
        client = self.client
        if isinstance(client, AsyncMemtrace):
            return await client.execute(op)
        return await asyncio.to_thread(client.execute, op)

    def execute_all(self, ops: Sequence[Operation[Any]]) -> list[Any]:
        """Carry out independent operations from sync code, results in order (like langgraph's ``batch``);
        the first error is raised. A remote async client runs them concurrently."""
        client = self.client
        if isinstance(client, AsyncMemtrace) and not isinstance(client._backend, AsyncLocalBackend):
            return run_coroutine_blocking(self._gather(client, ops))
        return [self.execute(op) for op in ops]

    async def aexecute_all(self, ops: Sequence[Operation[Any]]) -> list[Any]:
        """Carry out independent operations from async code, concurrently on an async client (one worker-thread
        hop for all of them on a sync one); results in order, the first error is raised."""
        client = self.client
        if isinstance(client, AsyncMemtrace):
            return await self._gather(client, ops)
        return await asyncio.to_thread(lambda: [client.execute(op) for op in ops])

    @staticmethod
    async def _gather(client: AsyncMemtrace, ops: Sequence[Operation[Any]]) -> list[Any]:
        return list(await asyncio.gather(*(client.execute(op) for op in ops)))

    # --- plans

    def run(self, plan: Plan[T]) -> T:
        """Drive `plan` to completion from sync code."""
        try:
            op = next(plan)
            while True:
                try:
                    result = self.execute_all(op.ops) if isinstance(op, Together) else self.execute(op)
                except Exception as exc:  # handed to the plan, which decides whether it is fatal
                    op = plan.throw(exc)
                else:
                    op = plan.send(result)
        except StopIteration as stop:
            value: T = stop.value
            return value
        finally:
            plan.close()

    async def arun(self, plan: Plan[T]) -> T:
        """Drive `plan` to completion from async code."""
        if not self.is_async:
            # One worker-thread hop for the whole plan rather than one per operation.
            return await asyncio.to_thread(self.run, plan)
        try:
            op = next(plan)
            while True:
                try:
                    result = await (
                        self.aexecute_all(op.ops) if isinstance(op, Together) else self.aexecute(op)
                    )
                except Exception as exc:  # handed to the plan, which decides whether it is fatal
                    op = plan.throw(exc)
                else:
                    op = plan.send(result)
        except StopIteration as stop:
            value: T = stop.value
            return value
        finally:
            plan.close()

    # --- lifecycle (for clients the adapter created itself)

    def close(self) -> None:
        client = self.client
        if isinstance(client, Memtrace):
            client.close()
        else:
            run_coroutine_blocking(client.aclose())

    async def aclose(self) -> None:
        client = self.client
        if isinstance(client, AsyncMemtrace):
            await client.aclose()
        else:
            await asyncio.to_thread(client.close)


__all__ = [
    "AnyMemtrace",
    "ClientBridge",
    "Plan",
    "Together",
    "check_client",
    "concurrently",
    "map_operations",
    "run_coroutine_blocking",
]
