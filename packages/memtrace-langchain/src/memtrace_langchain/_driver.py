"""One body of logic per operation, run against either a sync or an async memtrace client.

Each adapter operation is written once, as a *plan*: a generator that yields `Call`s (a client method name and
its arguments) and receives each call's result, or has the call's exception thrown into it so the plan can
catch e.g. `ConflictError`. `run_sync` drives a plan with a `Memtrace`, `run_async` with an `AsyncMemtrace`.
So the sync and async methods of every adapter class share their logic and cannot drift apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from memtrace import AsyncMemtrace, Memtrace

T = TypeVar("T")

MemtraceClient = Memtrace | AsyncMemtrace
"""What every adapter accepts: the embedded or remote client, sync or async."""


@dataclass(frozen=True, slots=True)
class Call:
    """One client method call a plan wants made."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


Plan = Generator[Call, Any, T]


def call(method: str, *args: Any, **kwargs: Any) -> Call:
    return Call(method, args, kwargs)


def is_async_client(client: object) -> bool:
    return isinstance(client, AsyncMemtrace)


def check_client(client: object, owner: str) -> None:
    """Fail at construction, naming the argument, rather than on first use."""
    if not isinstance(client, (Memtrace, AsyncMemtrace)):
        raise TypeError(
            f"{owner}: client must be a memtrace.Memtrace or memtrace.AsyncMemtrace, got {type(client)!r}"
        )


def run_sync(client: Memtrace, plan: Plan[T]) -> T:
    """Drive `plan` to completion with blocking client calls."""
    try:
        step = next(plan)
        while True:
            try:
                result = getattr(client, step.method)(*step.args, **step.kwargs)
            except Exception as exc:  # handed to the plan, which decides whether it is fatal
                step = plan.throw(exc)
            else:
                step = plan.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        plan.close()


async def run_async(client: AsyncMemtrace, plan: Plan[T]) -> T:
    """Drive `plan` to completion, awaiting each client call."""
    try:
        step = next(plan)
        while True:
            try:
                result = await getattr(client, step.method)(*step.args, **step.kwargs)
            except Exception as exc:  # handed to the plan, which decides whether it is fatal
                step = plan.throw(exc)
            else:
                step = plan.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        plan.close()


class BlockingCallInEventLoopError(asyncio.InvalidStateError, TypeError):
    """A blocking method was called on an `AsyncMemtrace`-backed adapter from a thread running an event loop.

    An `asyncio.InvalidStateError`, as LangGraph's async stores raise for the same mistake, and a `TypeError`
    (what earlier versions raised)."""


def run_blocking(client: MemtraceClient, plan: Plan[T], *, owner: str, async_hint: str) -> T:
    """Run `plan` from sync code.

    With an `AsyncMemtrace`: in a thread that runs no event loop (a worker thread, a plain script) the plan runs
    to completion on a private loop, as LangGraph's async stores serve sync calls from other threads; in a
    thread that runs one, blocking would stall that loop (or deadlock), so that is a clear error instead."""
    if not is_async_client(client):
        return run_sync(client, plan)  # type: ignore[arg-type]
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_async(client, plan))  # type: ignore[arg-type]
    plan.close()
    raise BlockingCallInEventLoopError(
        f"{owner} was given an AsyncMemtrace and called synchronously inside a running event loop, which "
        f"would block it: use {async_hint}, or pass a sync memtrace.Memtrace (it serves both sync and async "
        "calls)."
    )


async def run_nonblocking(client: MemtraceClient, plan: Plan[T]) -> T:
    """Run `plan` from async code without blocking the event loop: natively on an `AsyncMemtrace`, in a worker
    thread on a sync `Memtrace`."""
    if is_async_client(client):
        return await run_async(client, plan)  # type: ignore[arg-type]
    return await asyncio.to_thread(run_sync, client, plan)  # type: ignore[arg-type]
