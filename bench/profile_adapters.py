"""Where the time goes per message, for each adapter's one-message write (printed, not part of `make bench`).

Each adapter writes the same 1,000 messages as its benchmark (`bench/adapter_*.py`), one per call, into a fresh
embedded store, twice: durable (``synchronous=FULL``, as shipped) and relaxed (``NORMAL``: no fsync per
commit). Timers wrapped around the engine's pieces split each message's wall time into

- adapter: the framework call down to `Engine.add_memory` (message to request, the bridge, a worker-thread hop
  for async clients);
- engine: validation and the record (`Engine._record`), the `Memory` handed back;
- SQLite: the write transaction (`SQLiteEventStore.append`: the dedup lookup, the row, its five indexes, the
  commit); durable minus relaxed is what the commit's fsync costs;

and CPU time per message (all threads) shows how much of the wall time was computing, the rest waiting (the
disk, or on a loaded machine the CPU run queue).

    uv run python -m bench.profile_adapters
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
warnings.simplefilter("ignore")  # LangChain's history classes are deprecated upstream

from bench import adapter_langchain, adapter_llamaindex, adapter_openai_agents  # noqa: E402 - after the environment is set
from bench.common import temp_dir  # noqa: E402 - after the environment is set
from memtrace import AsyncMemtrace, Memtrace  # noqa: E402 - after the environment is set
from memtrace.engine import Engine  # noqa: E402 - after the environment is set
from memtrace.stores.sqlite.events import SQLiteEventStore  # noqa: E402 - after the environment is set

N = 1000
Sync = Literal["FULL", "NORMAL"]


class Split:
    """Wall time spent inside the engine and inside its write transaction, summed over calls."""

    def __init__(self) -> None:
        self.engine = 0.0
        self.sqlite = 0.0

    def _engine_timer(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(engine: Engine, *args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return method(engine, *args, **kwargs)
            finally:
                self.engine += time.perf_counter() - t

        return timed

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        add_memory, add_memories, append = Engine.add_memory, Engine.add_memories, SQLiteEventStore.append

        def timed_append(store: SQLiteEventStore, *args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return append(store, *args, **kwargs)
            finally:
                self.sqlite += time.perf_counter() - t

        Engine.add_memory = self._engine_timer(add_memory)  # type: ignore[method-assign]
        Engine.add_memories = self._engine_timer(add_memories)  # type: ignore[method-assign]
        SQLiteEventStore.append = timed_append  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            Engine.add_memory = add_memory  # type: ignore[method-assign]
            Engine.add_memories = add_memories  # type: ignore[method-assign]
            SQLiteEventStore.append = append  # type: ignore[method-assign]


def _langchain(root: Path, sync: Sync) -> Callable[[], None]:
    from memtrace_langchain import MemtraceChatMessageHistory

    client = Memtrace.open(root, synchronous=sync)
    history = MemtraceChatMessageHistory("profile", client=client)
    messages = [adapter_langchain.make_message(i) for i in range(N)]

    def run() -> None:
        for message in messages:
            history.add_message(message)
        client.close()

    return run


def _llamaindex_sync(root: Path, sync: Sync) -> Callable[[], None]:
    from memtrace_llamaindex import MemtraceChatStore

    client = Memtrace.open(root, synchronous=sync)
    store = MemtraceChatStore(client)
    messages = [adapter_llamaindex.make_message(i) for i in range(N)]

    def run() -> None:
        for message in messages:
            store.add_message("profile", message)
        client.close()

    return run


def _async(
    root: Path, sync: Sync, make: Callable[[AsyncMemtrace], Callable[[int], Any]]
) -> Callable[[], None]:
    def run() -> None:
        async def go() -> None:
            async with AsyncMemtrace.open(root, synchronous=sync) as client:
                write = make(client)
                for i in range(N):
                    await write(i)

        asyncio.run(go())

    return run


def _llamaindex_async(root: Path, sync: Sync) -> Callable[[], None]:
    from memtrace_llamaindex import MemtraceDBChatStore

    def make(client: AsyncMemtrace) -> Callable[[int], Any]:
        store = MemtraceDBChatStore(client)
        return lambda i: store.add_message("profile", adapter_llamaindex.make_message(i))

    return _async(root, sync, make)


def _openai_agents(root: Path, sync: Sync) -> Callable[[], None]:
    from memtrace_openai_agents import MemtraceSession

    def make(client: AsyncMemtrace) -> Callable[[int], Any]:
        session: Any = MemtraceSession("profile", client=client)  # items are plain dicts, as in the benchmark
        return lambda i: session.add_items([adapter_openai_agents.make_item(i)])

    return _async(root, sync, make)


ADAPTERS: dict[str, Callable[[Path, Sync], Callable[[], None]]] = {
    "LangChain MemtraceChatMessageHistory.add_message (sync Memtrace)": _langchain,
    "LlamaIndex MemtraceChatStore.add_message (sync Memtrace)": _llamaindex_sync,
    "LlamaIndex MemtraceDBChatStore.add_message (AsyncMemtrace)": _llamaindex_async,
    "OpenAI Agents MemtraceSession.add_items([item]) (AsyncMemtrace)": _openai_agents,
}


def measure(make: Callable[[Path, Sync], Callable[[], None]], sync: Sync) -> dict[str, float]:
    """Per message, in microseconds: wall, CPU, engine, SQLite transaction."""
    split = Split()
    with temp_dir("profile") as root:
        run = make(root / "memtrace", sync)
        with split.installed():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall": wall / N * 1e6,
        "cpu": cpu / N * 1e6,
        "engine": split.engine / N * 1e6,
        "sqlite": split.sqlite / N * 1e6,
    }


def _median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main(rounds: int = 3) -> int:
    print(f"{N:,} one-message writes per adapter; microseconds per message, median of {rounds} rounds")
    print(f"load average at start: {os.getloadavg()}")
    results: dict[str, dict[Sync, list[dict[str, float]]]] = {n: {"FULL": [], "NORMAL": []} for n in ADAPTERS}
    for _ in range(rounds):  # adapters interleaved, so load from other processes hits each alike
        for name, make in ADAPTERS.items():
            for sync in ("FULL", "NORMAL"):
                results[name][sync].append(measure(make, sync))
    for name in ADAPTERS:
        durable, relaxed = _median_of(results[name]["FULL"]), _median_of(results[name]["NORMAL"])
        adapter = durable["wall"] - durable["engine"]
        python = durable["engine"] - durable["sqlite"]
        fsync = durable["sqlite"] - relaxed["sqlite"]
        print(f"\n{name}")
        print(
            f"  durable: {durable['wall']:.0f} wall, {durable['cpu']:.0f} CPU | adapter+bridge {adapter:.0f}, "
            f"engine Python {python:.0f}, SQLite transaction {durable['sqlite']:.0f} "
            f"(of which the fsync, durable - relaxed: {fsync:.0f})"
        )
        print(
            f"  relaxed: {relaxed['wall']:.0f} wall, {relaxed['cpu']:.0f} CPU | SQLite transaction "
            f"{relaxed['sqlite']:.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
