"""Tiers the embedded store ranks with FTS5's ``bm25()`` (every organisation-wide tier, and a scoped tier with
too many candidates to score outside it) are ranked as ``bm25()`` ranks the query's own expression: the same
memories, order and scores, whether the store reads a loose prefix as the one term it stands for and whether it
ranks and counts a tier in one pass or finds the rank window first (stores/sqlite/events.py). The reference here
is plain SQL over the organisation's index with the query's phrases as FTS5 reads them, prefixes and all."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from memtrace import AddMemoryRequest, Memtrace, SearchQuery
from memtrace.records import MemoryFilter
from memtrace.stores.sqlite.database import SQLiteDatabase
from memtrace.stores.sqlite.events import SQLiteEventStore
from memtrace.stores.sqlite.org_index import BLOCK_BITS, rowid_sql
from memtrace.stores.sqlite.ranking import all_expression, any_expression, query_phrases

WORDS = [
    *("deploy", "deployed", "deployment", "deploys"),  # "deplo"*: "deploy" and "deploi", two terms
    *("failed", "failure", "fails"),  # "fail"*: "fail" and "failur"
    *("billing", "billed", "invoice", "customer"),  # "bill"*, "invoic"*: one term each
    *("update", "updated", "updating", "error", "errors"),  # "upda"*, "erro"*: one term each
    *("server", "database", "timeout", "retry", "the", "a", "of"),
]
QUERIES = (
    "deployment failed",
    "billing",
    "update error billing",
    "errors updates",
    "failure",
    "deploys invoice retry",
    "database",
    "nothing matches zebra",
)
SCOPES = (MemoryFilter(), MemoryFilter(agent_id="agent_1"), MemoryFilter(session_id="s2"))


def _fill(data: Path, org: str, seed: int, count: int, words: list[str] = WORDS) -> None:
    rng = random.Random(seed)
    with Memtrace.open(data, org_id=org) as mt:
        mt.add_memories(
            [
                AddMemoryRequest(
                    agent_id=f"agent_{i % 3}",
                    session_id=f"s{i % 5}" if i % 4 else None,
                    content=" ".join(rng.choices(words, k=rng.randint(1, 25))),
                    importance=rng.choice([None, 0.2, 0.9]),
                )
                for i in range(count)
            ]
        )
        mt.search_memories(SearchQuery(query="any"))  # the keyword index catches up before a search


def _reference(
    data: Path, org: str, query: str, flt: MemoryFilter, rank_limit: int, wanted: int
) -> list[tuple[str, float]]:
    """Both tiers by bm25() over the query's own expressions, each within its newest `rank_limit` matches."""
    conn = sqlite3.connect(data / "memtrace.db")
    try:
        row = conn.execute("SELECT n FROM fts_orgs WHERE org_id = ?", (org,)).fetchone()
        if row is None:
            return []
        table = f"memories_fts_{row[0]}"
        scope = []
        if flt.agent_id:
            scope.append(f'scope : "a{flt.agent_id.encode().hex()}"')
        if flt.session_id:
            scope.append(f'scope : "s{flt.session_id.encode().hex()}"')
        phrases = query_phrases(query)
        found: list[tuple[str, float]] = []
        for expression in (all_expression(phrases), any_expression(phrases)):
            if expression is None or len(found) >= wanted:
                continue
            match = " AND ".join([*scope, f"content : ({expression})"])
            rows = conn.execute(
                f"SELECT {rowid_sql('f.rowid')}, bm25({table}, 1.0, 0.0), m.id, m.time_us, "
                f"COALESCE(m.importance, 0) FROM {table} f JOIN memories m ON m.rowid = {rowid_sql('f.rowid')} "
                f"WHERE {table} MATCH ?",
                (match,),
            ).fetchall()
            window = set(sorted(r[0] for r in rows)[-rank_limit:])
            ranked = sorted((r for r in rows if r[0] in window), key=lambda r: (r[1], -r[3], -r[4], -r[0]))
            seen = {i for i, _ in found}
            found += [(r[2], round(-r[1], 6)) for r in ranked if r[2] not in seen][: wanted - len(found)]
        return found
    finally:
        conn.close()


def _search(
    store: SQLiteEventStore, org: str, query: str, flt: MemoryFilter, wanted: int
) -> list[tuple[str, float]]:
    return [(r.id, r.score or 0.0) for r in store.search(org, flt, query, limit=wanted, offset=0)]


@pytest.mark.parametrize("rank_limit", [40, 250, 20_000])
def test_tiers_ranked_by_bm25_are_the_querys_own_bm25(tmp_path: Path, rank_limit: int) -> None:
    data = tmp_path / "data"
    _fill(data, "org_default", seed=5, count=700)
    # score_limit=0: scoped tiers go to bm25() too (org-wide ones always do).
    store = SQLiteEventStore(SQLiteDatabase(data), rank_limit=rank_limit, score_limit=0)
    try:
        compared = 0
        for flt in SCOPES:
            for query in QUERIES:
                for wanted in (10, 60):
                    want = _reference(data, "org_default", query, flt, rank_limit, wanted)
                    assert _search(store, "org_default", query, flt, wanted) == want, (query, flt, wanted)
                    compared += len(want)
        assert compared > 1_000
    finally:
        store.close()


def test_another_organisations_memories_change_no_ranking(tmp_path: Path) -> None:
    """BM25 statistics are per organisation: another org storing the same words, more forms of them (new terms
    under the query's prefixes) and many more memories leaves every search of this org as it was."""
    data = tmp_path / "data"
    _fill(data, "org_a", seed=7, count=400)
    store = SQLiteEventStore(SQLiteDatabase(data), rank_limit=150)
    try:
        before = {
            (q, i): _search(store, "org_a", q, flt, 20) for q in QUERIES for i, flt in enumerate(SCOPES)
        }
        for (q, i), got in before.items():
            assert got == _reference(data, "org_a", q, SCOPES[i], 150, 20), (q, i)
        _fill(
            data,
            "org_b",
            seed=8,
            count=900,
            words=[*WORDS, "deploybot", "billingsgate", "updatebot", "errorless"],
        )
        for (q, i), got in before.items():
            assert _search(store, "org_a", q, SCOPES[i], 20) == got, (q, i)
        fresh = SQLiteEventStore(SQLiteDatabase(data), rank_limit=150)
        try:
            for (q, i), got in before.items():
                assert _search(fresh, "org_a", q, SCOPES[i], 20) == got, (q, i)
                assert _search(fresh, "org_b", q, SCOPES[i], 20) == _reference(
                    data, "org_b", q, SCOPES[i], 150, 20
                ), (q, i)
        finally:
            fresh.close()
    finally:
        store.close()


def test_a_new_term_under_a_prefix_is_found_at_once_in_a_small_organisation(tmp_path: Path) -> None:
    """A prefix read as the one term it stood for ("erro"* as "error") is looked up again after any change of a
    small organisation's index: a memory holding a new term under it ("errorless") is found through the prefix
    and scored as bm25() scores the prefix."""
    data = tmp_path / "data"
    _fill(data, "org_default", seed=9, count=300)
    store = SQLiteEventStore(SQLiteDatabase(data))
    try:
        first = _search(store, "org_default", "errors", MemoryFilter(), 400)
        assert first == _reference(data, "org_default", "errors", MemoryFilter(), 20_000, 400)
        with Memtrace.open(data) as mt:
            new = mt.add_memory(AddMemoryRequest(agent_id="agent_0", content="an errorless run")).id
            mt.search_memories(SearchQuery(query="any"))
        again = _search(store, "org_default", "errors", MemoryFilter(), 400)
        assert new in {i for i, _ in again}
        assert again == _reference(data, "org_default", "errors", MemoryFilter(), 20_000, 400)
    finally:
        store.close()


def test_a_tier_larger_than_its_estimate_still_gets_the_window(tmp_path: Path) -> None:
    """Two words that always come together: the all-words tier is far larger than independent words would
    make it, so the one-pass ranking that also counts finds it over the rank window and the window is found."""
    data = tmp_path / "data"
    rng = random.Random(11)
    with Memtrace.open(data) as mt:
        mt.add_memories(
            [
                AddMemoryRequest(
                    agent_id=f"agent_{i % 3}",
                    content=" ".join(rng.choices(WORDS, k=rng.randint(1, 12)))
                    + (" walrus narwhal" * rng.randint(1, 2) if i % 10 < 3 else ""),
                )
                for i in range(700)
            ]
        )
        mt.search_memories(SearchQuery(query="any"))
    # ~210 memories hold both words; independent words would put ~63 there: under half of 150.
    store = SQLiteEventStore(SQLiteDatabase(data), rank_limit=150)
    try:
        for wanted in (10, 200):
            got = _search(store, "org_default", "walrus narwhal", MemoryFilter(), wanted)
            assert got == _reference(data, "org_default", "walrus narwhal", MemoryFilter(), 150, wanted)
            assert len(got) == min(wanted, 150)
    finally:
        store.close()


@pytest.mark.parametrize("rank_limit", [50, 400])
def test_the_window_across_two_blocks_is_the_newest_matches(tmp_path: Path, rank_limit: int) -> None:
    """Keys order memories by block, then agent (org_index.py): with memories in two blocks the window is found
    by its first pass; with one, without it. Either way it is the newest `rank_limit` matches."""
    data = tmp_path / "data"
    _fill(data, "org_default", seed=12, count=300)
    conn = sqlite3.connect(data / "memtrace.db", isolation_level=None)
    # The next memories take rowids past the first block boundary (2**BLOCK_BITS).
    conn.execute(
        "INSERT INTO memories (rowid, id, org_id, time_us, agent_id, memory_type, event_type, content) "
        "VALUES (?, 'mem_boundary', 'org_default', 1, 'agent_1', 'episodic', 'general', 'billing error')",
        ((1 << BLOCK_BITS) + 5,),
    )
    conn.close()
    _fill(data, "org_default", seed=13, count=300)
    store = SQLiteEventStore(SQLiteDatabase(data), rank_limit=rank_limit, score_limit=0)
    try:
        for flt in SCOPES:
            for query in QUERIES:
                want = _reference(data, "org_default", query, flt, rank_limit, 30)
                assert _search(store, "org_default", query, flt, 30) == want, (query, flt)
    finally:
        store.close()
