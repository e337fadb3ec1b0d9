"""Every statement the Arc store sends runs on DuckDB itself (the engine inside Arc), with the answers the store
expects: ranking scores equal to the Python ones, NaN importances skipped, backslashes spliced, NULL-safe
delete predicates. DuckDB is not a dependency of the workspace, so this runs only where it is importable
(``pip install duckdb`` into the environment), and is skipped, saying so, elsewhere.

The table stands in for what Arc's rewrite gives DuckDB (``read_parquet(...)`` of the measurement): the same
column names and types (``time`` TIMESTAMPTZ, ``importance`` DOUBLE, ``term_count`` BIGINT, VARCHAR else).
"""

from __future__ import annotations

from typing import Any

import pytest

from memtrace.ids import MemoryIdGenerator
from memtrace.records import MemoryFilter
from memtrace.stores.arc import queries
from memtrace.stores.arc.ranking import CorpusStats, score, weights
from memtrace.stores.arc.terms import query_terms, search_terms

duckdb = pytest.importorskip("duckdb", reason="DuckDB is not installed; the dialect check needs it")

T0 = 1_766_400_000_000_000
ROWS = [
    ("The user prefers dark mode in every editor", 0.2, "billing,urgent", None),
    ("Deployed the billing service to production", None, "bill", "s1"),
    ("Mode of transport: bicycle", 0.9, None, "s1"),
    ("ÄPFEL back\\slash 100% sure_thing", float("nan"), "billing", None),
]


class Loaded:
    """A DuckDB connection with the events table, and the ids of its rows."""

    def __init__(self, con: Any, ids: list[str]) -> None:
        self.con = con
        self.ids = ids

    def execute(self, sql: str, params: Any = None) -> Any:
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)


@pytest.fixture(scope="module")
def db() -> Loaded:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE events (time TIMESTAMPTZ, agent_id VARCHAR, content VARCHAR, dedup_key VARCHAR, "
        "event_type VARCHAR, id VARCHAR, importance DOUBLE, memory_type VARCHAR, metadata_json VARCHAR, "
        "org_id VARCHAR, parent_id VARCHAR, search_terms VARCHAR, session_id VARCHAR, tags_csv VARCHAR, "
        "term_count BIGINT, write_batch VARCHAR)"
    )
    generator = MemoryIdGenerator()
    ids: list[str] = []
    for i, (content, importance, tags, session) in enumerate(ROWS):
        terms, count = search_terms(content)
        memory_id = generator.new(T0 + i * 1000)
        ids.append(memory_id)
        con.execute(
            "INSERT INTO events VALUES (make_timestamptz(?::BIGINT), 'a1', ?, ?, 'general', ?, ?, 'episodic', "
            "NULL, 'org', NULL, ?, ?, ?, ?, 'b1')",
            [T0 + i * 1000, content, f"k{i}", memory_id, importance, terms, session, tags, count],
        )
    return Loaded(con, ids)


def run(db: Loaded, sql: str, *, has_time: bool = True) -> list[dict[str, Any]]:
    # Times come back as text, as Arc's JSON has them (DuckDB's own Python datetimes would need pytz).
    wrapped = f"SELECT * REPLACE (CAST(time AS VARCHAR) AS time) FROM ({sql}) AS q" if has_time else sql
    cursor = db.execute(wrapped)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def contents(rows: list[dict[str, Any]]) -> list[str]:
    return [r["content"] for r in rows]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (MemoryFilter(), [r[0] for r in ROWS]),
        (MemoryFilter(tags=("billing",)), [ROWS[0][0], ROWS[3][0]]),
        (MemoryFilter(since_us=T0 + 500, until_us=T0 + 2500), [ROWS[1][0], ROWS[2][0]]),
        (MemoryFilter(content_contains="äpfel back\\sl"), [ROWS[3][0]]),
        (MemoryFilter(content_contains="0% s"), [ROWS[3][0]]),
        (MemoryFilter(min_importance=0.5), [ROWS[2][0]]),  # NaN is not >= 0.5
        (
            MemoryFilter(session_id="s1", memory_types=("episodic",), event_types=("general",)),
            [ROWS[1][0], ROWS[2][0]],
        ),
    ],
)
def test_list_filters(db: Loaded, flt: MemoryFilter, expected: list[str]) -> None:
    rows = run(db, queries.list_memories("events", "org", flt, order="asc", limit=10, offset=0))
    assert contents(rows) == expected


def test_lookup_by_id_within_its_millisecond(db: Loaded) -> None:
    flt = MemoryFilter(ids=(db.ids[1],))
    assert contents(run(db, queries.list_memories("events", "org", flt, order="asc", limit=1, offset=0))) == [
        ROWS[1][0]
    ]


def test_counts_and_batches(db: Loaded) -> None:
    count = queries.count("events", "org", MemoryFilter(), ["b1", "b2"])
    assert run(db, count, has_time=False) == [{"n": 4, "overlap": 4}]
    by_type = queries.count_by_type("events", "org", MemoryFilter())
    assert run(db, by_type, has_time=False) == [{"memory_type": "episodic", "n": 4, "overlap": 0}]
    batches = queries.batch_counts("events", ["b1", "b9"], T0)
    assert run(db, batches, has_time=False) == [{"write_batch": "b1", "n": 4}]
    assert len(run(db, queries.batch_ids("events", "b1", T0))) == 4
    assert [
        r["dedup_key"] for r in run(db, queries.dedup_probe("events", "org", T0 - 1, ["k0", "k2", "x"]))
    ] == [
        "k0",
        "k2",
    ]


def test_ranking_matches_the_python_scores_exactly(db: Loaded) -> None:
    terms = query_terms("what mode does the user prefer, dark?")
    (stats_row,) = db.execute(queries.term_stats("events", "org", MemoryFilter(), terms)).fetchall()
    stats = CorpusStats(stats_row[0], int(stats_row[1]), tuple(int(v) for v in stats_row[2:]))
    w = weights(stats)
    assert w is not None
    ranked = run(db, queries.ranked_search("events", "org", MemoryFilter(), terms, w, limit=10, offset=0))
    assert ranked[0]["content"] == ROWS[0][0]
    for row in ranked:
        text, count = search_terms(row["content"])
        assert row["score"] == score([text.count(t.pattern) for t in terms], count, w)


def test_delete_predicate_is_null_safe(db: Loaded) -> None:
    predicate = queries.delete_predicate(db.ids[:2])
    db.execute("INSERT INTO events (time, org_id, content) VALUES (now(), 'org', 'legacy row without id')")
    keep, total = db.execute(
        f"SELECT count(*) FILTER (WHERE NOT ({predicate})), count(*) FROM events"
    ).fetchone()
    assert (keep, total) == (3, 5)  # the two ids go; the row whose id is NULL stays
    db.execute("DELETE FROM events WHERE id IS NULL")
