"""The five read operations the read and scaling benchmarks time, three ways: through the memtrace client,
over HTTP, and as plain SQL on the same SQLite file (the ceiling: the same question without the engine).

- ``list_agent``: an agent's 100 most recent memories (what `recall` does);
- ``list_org``: the organisation's 100 most recent memories;
- ``search_agent``: ranked keyword search (2 words, top 10) scoped to one agent;
- ``search_org``: the same across the whole organisation;
- ``context``: `get_session_context` of a session holding 500 memories in the last 24 hours;
- ``search_agent_common``, ``search_org_common`` (`COMMON_SEARCH_OPS`, the read and scaling benchmarks): the
  two searches again with three common words (each in about a fifth of all memories), the costly mix.

Each call checks its answer (counts, scoping), so a fast wrong answer fails the benchmark.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .common import check
from .dataset import DatasetShape, common_word_queries, search_queries

OPS = ("list_agent", "list_org", "search_agent", "search_org", "context")
OP_LABELS = {
    "list_agent": "list recent, one agent (limit 100)",
    "list_org": "list recent, whole org (limit 100)",
    "search_agent": "ranked search, one agent (top 10)",
    "search_org": "ranked search, whole org (top 10)",
    "context": "session context, 500-memory session",
    "search_agent_common": "ranked search, one agent, 3 common words (top 10)",
    "search_org_common": "ranked search, whole org, 3 common words (top 10)",
}
COMMON_SEARCH_OPS = ("search_agent_common", "search_org_common")
READ_OPS = OPS + COMMON_SEARCH_OPS
"""Every op the read and scaling benchmarks time (the PostgreSQL and footprint benchmarks time `OPS`)."""
SEARCH_OPS = ("search_agent", "search_org", *COMMON_SEARCH_OPS)
LIST_LIMIT = 100
SEARCH_LIMIT = 10
ORG = "org_default"


@dataclass(frozen=True)
class Truth:
    """What a correct answer looks like for a loaded store, known from the generated data alone."""

    shape: DatasetShape
    agent_counts: dict[str, int]

    def list_agent(self, agent: str) -> int:
        return min(LIST_LIMIT, self.agent_counts.get(agent, 0))

    def list_org(self) -> int:
        return min(LIST_LIMIT, self.shape.size)


@dataclass(frozen=True)
class ReadCall:
    op: str
    agent: str
    query: str
    session: str


COMMON_EVERY = 4
"""The common-word searches run every fourth round: their exact-BM25 peer ranks every match (tens of thousands
at 100,000 memories), which would otherwise dominate a quick run."""


def plan(shape: DatasetShape, iterations: int, seed: int = 7, ops: tuple[str, ...] = OPS) -> list[ReadCall]:
    """`iterations` rounds of every op of `ops` (the common-word searches every `COMMON_EVERY` rounds),
    round-robin, with agents, queries and sessions rotating."""
    queries = search_queries(seed, iterations)
    common = common_word_queries(seed, iterations)
    calls = []
    for i in range(iterations):
        agent = shape.agents[(i * 37) % len(shape.agents)]
        session = shape.context_sessions[i % len(shape.context_sessions)]
        for op in ops:
            if op in COMMON_SEARCH_OPS and i % COMMON_EVERY:
                continue
            calls.append(ReadCall(op, agent, common[i] if op in COMMON_SEARCH_OPS else queries[i], session))
    return calls


def _scoped_agent(call: ReadCall) -> str | None:
    """The agent a search is scoped to (None: the whole org)."""
    return call.agent if call.op.startswith("search_agent") else None


# ------------------------------------------------------------------------------------------- the client


def call_client(client: Any, call: ReadCall, truth: Truth) -> list[str]:
    """Run `call` through a `memtrace.Memtrace`; check it; return the ids it found (a context returns its
    session id when it rendered anything)."""
    from memtrace import ListOptions, SearchQuery

    if call.op == "list_agent":
        got = client.list_memories(ListOptions(agent_id=call.agent, limit=LIST_LIMIT)).memories
        want = truth.list_agent(call.agent)
        check(len(got) == want, f"list_agent returned {len(got)} memories, expected {want}")
        check(all(m.agent_id == call.agent for m in got), "list_agent returned another agent's memory")
        return [m.id for m in got]
    if call.op == "list_org":
        got = client.list_memories(ListOptions(limit=LIST_LIMIT)).memories
        check(
            len(got) == truth.list_org(),
            f"list_org returned {len(got)} memories, expected {truth.list_org()}",
        )
        return [m.id for m in got]
    if call.op in SEARCH_OPS:
        agent = _scoped_agent(call)
        results = client.search_memories(
            SearchQuery(query=call.query, agent_id=agent, limit=SEARCH_LIMIT)
        ).results
        check(len(results) <= SEARCH_LIMIT, "search returned more than its limit")
        check(
            agent is None or all(m.agent_id == agent for m in results),
            "search returned another agent's memory",
        )
        return [m.id for m in results]
    ctx = client.get_session_context(call.session)
    want = truth.shape.context_session_size
    check(ctx.memory_count == want, f"context rendered {ctx.memory_count} memories, expected {want}")
    check(ctx.context.startswith(f"## Session Context ({call.session})"), "context has the wrong header")
    return [call.session]


# ------------------------------------------------------------------------------------------------ HTTP


def http_request(call: ReadCall, truth: Truth) -> dict[str, Any]:
    """The request `call` is over HTTP, with what its answer must satisfy (checked by the load generator)."""
    if call.op == "list_agent":
        query = urlencode({"agent_id": call.agent, "limit": LIST_LIMIT})
        return {
            "kind": call.op,
            "method": "GET",
            "path": f"/api/v1/memories?{query}",
            "expect": {"memories": truth.list_agent(call.agent), "agent_id": call.agent},
        }
    if call.op == "list_org":
        return {
            "kind": call.op,
            "method": "GET",
            "path": f"/api/v1/memories?limit={LIST_LIMIT}",
            "expect": {"memories": truth.list_org()},
        }
    if call.op in SEARCH_OPS:
        body: dict[str, Any] = {"query": call.query, "limit": SEARCH_LIMIT}
        expect: dict[str, Any] = {}
        if _scoped_agent(call):
            body["agent_id"] = call.agent
            expect["agent_id"] = call.agent
        return {"kind": call.op, "method": "POST", "path": "/api/v1/search", "body": body, "expect": expect}
    return {
        "kind": call.op,
        "method": "POST",
        "path": f"/api/v1/sessions/{call.session}/context",
        "body": {},
        "expect": {"memory_count": truth.shape.context_session_size},
    }


# ------------------------------------------------------------------------------------------- raw sqlite3

_COLS = (
    "m.id, m.org_id, m.time_us, m.agent_id, m.session_id, m.memory_type, m.event_type, m.content, "
    "m.metadata_json, m.tags, m.dedup_key, m.importance, m.parent_id"
)
_ORDER_RANKED = "ORDER BY rank, m.time_us DESC, COALESCE(m.importance, 0) DESC, m.rowid DESC"
_RAW_SQL = {
    "list_agent": f"SELECT {_COLS} FROM memories m WHERE m.org_id = ? AND m.agent_id = ? "
    "ORDER BY m.time_us DESC, m.rowid DESC LIMIT ?",
    "list_org": f"SELECT {_COLS} FROM memories m WHERE m.org_id = ? ORDER BY m.time_us DESC, m.rowid DESC LIMIT ?",
    # Full BM25 over every match, the textbook plan; {bm25} and {match} depend on the FTS table's columns.
    "search_agent": f"SELECT {_COLS}, {{bm25}} AS rank FROM memories_fts "
    "JOIN memories m ON m.rowid = memories_fts.rowid WHERE memories_fts MATCH ? AND m.org_id = ? "
    f"AND m.agent_id = ? {_ORDER_RANKED} LIMIT ?",
    "search_org": f"SELECT {_COLS}, {{bm25}} AS rank FROM memories_fts "
    f"JOIN memories m ON m.rowid = memories_fts.rowid WHERE memories_fts MATCH ? AND m.org_id = ? "
    f"{_ORDER_RANKED} LIMIT ?",
    "context": f"SELECT {_COLS} FROM memories m WHERE m.org_id = ? AND m.session_id = ? AND m.time_us > ? "
    "ORDER BY m.time_us DESC, m.rowid DESC LIMIT 1000",
}


class RawReader:
    """Plain SQL on memtrace's SQLite file (read-only): the same questions without the engine."""

    def __init__(self, db_path: str) -> None:
        self.conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        self.conn.execute("PRAGMA cache_size=-65536")
        # memtrace keeps one keyword index per organisation (stores/sqlite/org_index.py): use ORG's.
        found = self.conn.execute("SELECT n FROM fts_orgs WHERE org_id = ?", (ORG,)).fetchone()
        fts = f"memories_fts_{int(found[0])}" if found else "memories_fts"
        columns = [r[1] for r in self.conn.execute(f"PRAGMA table_info({fts})")]
        # When the index carries more than the content (e.g. scope tokens), match and weigh content only.
        self.content_only = columns != ["content"]
        weights = ", ".join(["1.0"] + ["0.0"] * (len(columns) - 1))
        bm25 = f"bm25({fts}, {weights})" if self.content_only else f"bm25({fts})"
        self.sql = {
            op: sql.replace("memories_fts", fts).replace("{bm25}", bm25) for op, sql in _RAW_SQL.items()
        }
        keyed = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'fts_agents'").fetchone()
        if keyed:  # the index's rows are keyed by agent and block, not by rowid (stores/sqlite/org_index.py)
            from memtrace.stores.sqlite.org_index import rowid_sql

            self.sql = {
                op: sql.replace(f"m.rowid = {fts}.rowid", f"m.rowid = {rowid_sql(fts + '.rowid')}")
                for op, sql in self.sql.items()
            }

    def match(self, query: str, *, every: bool = False) -> str | None:
        """The MATCH expression for memories with any keyword of `query` (with `every`: with all of them; None
        for a query of fewer than two keywords, where the two are the same)."""
        from memtrace.stores.sqlite.events import fts_query, fts_query_all

        terms = fts_query_all(query) if every else fts_query(query)
        if terms is None:
            return None
        return f"content : ({terms})" if self.content_only else terms

    def ranked(self, query: str, agent: str | None, *, tiers: bool = True) -> list[tuple[Any, ...]]:
        """The top `SEARCH_LIMIT` rows for `query` by BM25 over every match, the textbook plan. With `tiers`
        (memtrace's ranking, docs/core.md): memories holding every keyword first, each tier by BM25, the second
        filling what the first leaves; without, one ranking of every memory holding any keyword (plain BM25,
        where a memory with one keyword can outrank one with all)."""
        expressions = [self.match(query, every=True), self.match(query)] if tiers else [self.match(query)]
        rows: list[tuple[Any, ...]] = []
        for match in expressions:
            if match is None or len(rows) >= SEARCH_LIMIT:
                continue
            sql, args = (
                (self.sql["search_agent"], (match, ORG, agent, SEARCH_LIMIT))
                if agent is not None
                else (self.sql["search_org"], (match, ORG, SEARCH_LIMIT))
            )
            held = {r[0] for r in rows}
            rows += [r for r in self.conn.execute(sql, args).fetchall() if r[0] not in held]
        return rows[:SEARCH_LIMIT]

    def close(self) -> None:
        self.conn.close()


def call_raw(raw: RawReader, call: ReadCall, truth: Truth, now_us: int) -> list[str]:
    """The same question as plain SQL: rows fetched, nothing rendered or validated. Returns the ids found. A
    search is answered exactly as memtrace ranks (`RawReader.ranked`), every match scored by ``bm25()``, so
    agreement with it measures what the engine's shortcuts (rank windows, scoring outside bm25()) cost."""
    conn, sql = raw.conn, raw.sql
    if call.op == "list_agent":
        rows = conn.execute(sql["list_agent"], (ORG, call.agent, LIST_LIMIT)).fetchall()
        check(len(rows) == truth.list_agent(call.agent), "raw list_agent found the wrong number of rows")
    elif call.op == "list_org":
        rows = conn.execute(sql["list_org"], (ORG, LIST_LIMIT)).fetchall()
        check(len(rows) == truth.list_org(), "raw list_org found the wrong number of rows")
    elif call.op in SEARCH_OPS:
        rows = raw.ranked(call.query, _scoped_agent(call))
    else:
        rows = conn.execute(sql["context"], (ORG, call.session, now_us - 86_400_000_000)).fetchall()
        check(len(rows) == truth.shape.context_session_size, f"raw context found {len(rows)} rows")
        return [call.session]
    return [r[0] for r in rows]


def plain_bm25_ids(raw: RawReader, call: ReadCall) -> list[str]:
    """The ids of plain single-tier BM25's top `SEARCH_LIMIT` for a search call (`RawReader.ranked`)."""
    return [r[0] for r in raw.ranked(call.query, _scoped_agent(call), tiers=False)]


def agreement(ours: list[str], full: list[str]) -> float:
    """Share of the peer's top results that ours also returned (1.0 when both are empty)."""
    if not full:
        return 1.0 if not ours else 0.0
    return len(set(ours) & set(full)) / len(full)
