"""The PostgreSQL peers, on the same database in the same run as `bench.postgres_store`:

- LangGraph's ``PostgresStore`` (langgraph-checkpoint-postgres) beside memtrace's ``MemtraceStore`` on the
  PostgreSQL store: 1,000 ``put`` calls (one item each, as an agent saves memories), then 100 ``search`` calls
  by namespace with a two-word query (top 10). LangGraph's store without an embedding index ignores the query
  and returns the namespace's newest items; ours ranks them by keywords (BM25) — more work for the same call.
- langchain-postgres ``PostgresChatMessageHistory`` beside ``MemtraceChatMessageHistory`` on the PostgreSQL
  store: 1,000 ``add_message`` (one message each) then one read of ``.messages``, checked
  (`bench.adapter_langchain`'s workload).

Both sides commit every call (PostgreSQL's default ``synchronous_commit``); memtrace's items live in their own
organisation beside the benchmark's large one (one shared database, as in production); each repeat uses fresh
namespaces / sessions, and ours and the peer alternate so drift on a shared machine hits both.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from .common import Row, check, log, median, percentile

BENCH = "7. PostgreSQL store"
PEER_ORG = "org_peers"
PUTS = 1_000
SEARCHES = 100
MESSAGES = 1_000


def _items(seed: int) -> list[tuple[str, dict[str, Any]]]:
    import random

    from .dataset import CONTENT_WORDS

    rng = random.Random(seed)
    return [
        (f"m{i}", {"text": " ".join(rng.choices(CONTENT_WORDS[:200], k=rng.randint(6, 20))), "n": i})
        for i in range(PUTS)
    ]


def _store_workload(store: Any, namespace: tuple[str, ...], seed: int, ranked: bool) -> tuple[float, float]:
    """(ms for `PUTS` puts, ms for `SEARCHES` searches) on a LangGraph `BaseStore`."""
    from .dataset import search_queries

    items = _items(seed)
    t0 = time.perf_counter()
    for key, value in items:
        store.put(namespace, key, value)
    t1 = time.perf_counter()
    found = 0
    for query in search_queries(seed, SEARCHES):
        results = store.search(namespace, query=query, limit=10)
        check(len(results) == 10, f"{type(store).__name__}.search returned {len(results)} items, not 10")
        if ranked:
            words = query.split()
            found += any(w in r.value["text"] for r in results[:1] for w in words)
        else:
            found += 1
    t2 = time.perf_counter()
    check(found >= SEARCHES // 3, f"{type(store).__name__}: the best result held a query word {found} times")
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def _alternate(
    ours: Callable[[int], tuple[float, float]], peer: Callable[[int], tuple[float, float]], repeats: int
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    mine: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for r in range(repeats):
        pair: list[tuple[Callable[[int], tuple[float, float]], list[tuple[float, float]]]] = [
            (ours, mine),
            (peer, theirs),
        ]
        for fn, samples in pair if r % 2 == 0 else reversed(pair):
            samples.append(fn(r))
    return mine, theirs


def _row(
    metric: str, peer_name: str, ours: list[tuple[float, float]], peer: list[tuple[float, float]], notes: str
) -> Row:
    totals, peer_totals = [a + b for a, b in ours], [a + b for a, b in peer]
    ours_ms, peer_ms = median(totals), median(peer_totals)
    split = (
        f"ours {median([a for a, _ in ours]):,.0f} + {median([b for _, b in ours]):,.0f} ms, "
        f"peer {median([a for a, _ in peer]):,.0f} + {median([b for _, b in peer]):,.0f} ms"
    )
    return Row(
        benchmark=BENCH,
        metric=metric,
        ours=ours_ms,
        peer_name=peer_name,
        peer=peer_ms,
        target="at least as fast (ratio >= 1.0)",
        met=peer_ms >= ours_ms,
        ours_p99=percentile(totals, 99),
        peer_p99=percentile(peer_totals, 99),
        notes=f"{notes}; writes + reads: {split}",
        samples=len(totals),
    )


def langgraph_store_row(pg_url: str, repeats: int) -> Row:
    from langgraph.store.postgres import PostgresStore

    from memtrace import Memtrace
    from memtrace_langchain import MemtraceStore

    log(f"peers: LangGraph PostgresStore vs MemtraceStore, {repeats} x ({PUTS:,} puts + {SEARCHES} searches)")
    with Memtrace.open(pg_url, org_id=PEER_ORG) as client, PostgresStore.from_conn_string(pg_url) as peer:
        peer.setup()

        def ours(r: int) -> tuple[float, float]:
            store = MemtraceStore(client, agent_id=f"langgraph-{r}")
            return _store_workload(store, ("users", f"u{r}", "memories"), r, ranked=True)

        def theirs(r: int) -> tuple[float, float]:
            return _store_workload(peer, ("users", f"u{r}", "memories"), r, ranked=False)

        ours(-1)  # warm both code paths and pools before timing
        theirs(-1)
        mine, other = _alternate(ours, theirs, repeats)
    return _row(
        f"ms for {PUTS:,} put + {SEARCHES} search (top 10, by namespace): LangGraph store API",
        "langgraph-checkpoint-postgres PostgresStore (no embeddings: search ignores the query)",
        mine,
        other,
        f"{repeats} repeats, fresh namespaces; ours ranks by keywords, the peer returns the newest items; "
        "MemtraceStore as on this branch (put = look up the key's versions, write, delete the old one)",
    )


def chat_history_row(pg_url: str, repeats: int) -> Row:
    import psycopg
    from langchain_postgres import PostgresChatMessageHistory

    from memtrace import Memtrace
    from memtrace_langchain import MemtraceChatMessageHistory

    from .adapter_langchain import _workload

    log(f"peers: langchain-postgres chat history vs MemtraceChatMessageHistory, {repeats} x {MESSAGES:,}")
    with (
        Memtrace.open(pg_url, org_id=PEER_ORG) as client,
        psycopg.connect(pg_url) as conn,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        PostgresChatMessageHistory.create_tables(conn, "chat_history")

        def ours(r: int) -> tuple[float, float]:
            return _workload(MemtraceChatMessageHistory(f"conversation-{r + 1}", client=client), MESSAGES)

        def theirs(r: int) -> tuple[float, float]:
            history = PostgresChatMessageHistory("chat_history", str(uuid.uuid4()), sync_connection=conn)
            return _workload(history, MESSAGES)

        ours(-1)
        theirs(-1)
        mine, other = _alternate(ours, theirs, repeats)
    return _row(
        f"ms for {MESSAGES:,} add_message (1 message each) + read .messages: LangChain chat history",
        "langchain-postgres PostgresChatMessageHistory",
        mine,
        other,
        f"{repeats} repeats, fresh sessions; both commit every message; ours also indexes each message's text "
        "for keyword search",
    )


__all__ = ["chat_history_row", "langgraph_store_row"]
