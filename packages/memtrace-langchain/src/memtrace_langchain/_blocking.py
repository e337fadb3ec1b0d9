"""The one place an adapter refuses a blocking call: LangGraph's async stores do so inside a running loop."""

from __future__ import annotations

import asyncio


class BlockingCallInEventLoopError(asyncio.InvalidStateError, TypeError):
    """A blocking method of an `AsyncMemtrace`-backed `MemtraceStore` was called from a thread running an
    event loop.

    An `asyncio.InvalidStateError`, as LangGraph's async stores raise for the same call, and a `TypeError`
    (what earlier versions raised). From a thread without a running loop (e.g. a sync tool node in LangGraph's
    executor) the call works."""

    @classmethod
    def raise_if_in_loop(cls, owner: str, async_hint: str) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise cls(
            f"{owner} was given an AsyncMemtrace and called synchronously inside a running event loop, which "
            f"would block it: use {async_hint}, or pass a sync memtrace.Memtrace."
        )
