"""No input breaks out of a string literal or an identifier in the SQL the Arc store sends.

"Breaks out" is checked against both readers of that SQL: DuckDB (here SQLite, which reads standard string
literals the same way) must see exactly the value, and Arc's own pre-pass (its literal masker, validator and
table rewriter, reproduced in the stand-in from Arc's source) must see exactly one literal where we put one,
pass the query, and find no table reference but ours.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from memtrace.ids import MemoryIdGenerator
from memtrace.records import MemoryFilter
from memtrace.stores.arc import ArcEventStore, queries, sql
from memtrace.stores.arc.ranking import Weights
from memtrace.stores.arc.terms import query_terms

from .helpers import arc_config
from .standin import ArcStandIn
from .standin_server import _TABLE_REF, mask_literals, validate_delete_where, validate_sql

TRICKY = [
    "'",
    "''",
    "\\",
    "\\'",
    "'\\",
    "a\\' OR 1=1 --",
    "x'); DROP TABLE events; --",
    "$$ FROM other $$",
    "$tag$",
    "e'",
    '" FROM secrets',
    "FROM events.other",
    "JOIN x ON 1=1",
    "/* comment */",
    "-- comment",
    "__STR_0__",
    "ÄPFEL 🧠 שלום",
    "%_%",
    "\n\r\t",
    "time >= '1970-01-01'",
]
text_without_nul = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=60
) | st.sampled_from(TRICKY)


def sqlite_reader() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.create_function("chr", 1, lambda code: chr(int(code)))  # DuckDB's chr(); SQLite calls it char()
    return conn


def literal_shape(masked: str) -> str:
    """Every masked literal, spliced or not, as one `L`."""
    return re.sub(r"__STR_\d+__(?: \|\| chr\(92\) \|\| __STR_\d+__)*", "L", masked)


@settings(max_examples=400, deadline=None)
@given(text_without_nul)
@example("\\")
@example("it's a \\'test\\'")
def test_a_literal_is_exactly_its_value_for_duckdb_and_for_arc(value: str) -> None:
    literal = sql.string(value)
    assert "\\" not in literal  # Arc's masker reads \' as an escaped quote; DuckDB does not
    assert sqlite_reader().execute(f"SELECT {literal}").fetchone() == (value,)

    statement = f"SELECT id FROM events WHERE content = {literal} AND org_id = 'o' ORDER BY time"
    masked, masks = mask_literals(statement)
    assert "".join(original for _, original, _ in masks) == "".join(re.findall(r"'(?:[^']|'')*'", statement))
    assert literal_shape(masked) == "SELECT id FROM events WHERE content = L AND org_id = L ORDER BY time"
    assert [m.group(3) for m in _TABLE_REF.finditer(masked)] == ["events"]
    validate_sql(masked)  # raises if Arc would refuse the query


@pytest.mark.parametrize("value", ["a\x00b", "lone \ud800 surrogate"])
def test_values_that_cannot_be_sent_are_refused_not_altered(value: str) -> None:
    with pytest.raises(ValueError):
        sql.string(value)


@given(st.text(max_size=40))
def test_an_identifier_is_bare_and_safe_or_refused(name: str) -> None:
    try:
        result = sql.ident(name)
    except ValueError:
        return
    assert result == name
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,127}", name) and name.lower() not in sql.RESERVED_WORDS


@pytest.mark.parametrize("name", ["events", "memories_v2", "Events"])
def test_ordinary_measurement_names_are_accepted(name: str) -> None:
    assert sql.ident(name) == name


@pytest.mark.parametrize(
    "name", ["select", "SET", "load", "my-events", "db.events", "1events", "", 'ev"ents']
)
def test_keywords_and_odd_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        sql.ident(name)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_literals_are_exact(value: float) -> None:
    literal = sql.number(value)
    assert float(literal) == value and ("." in literal or "e" in literal)  # a DOUBLE, never an integer


@given(st.floats(-1e6, 1e6).filter(lambda v: v == 0 or abs(v) > 1e-200))
def test_numbers_read_back_exactly_in_sql(value: float) -> None:
    # (SQLite's float parser is not correctly rounded below 1e-200; DuckDB's is. Our values are scores,
    # weights and importances, all well inside this range.)
    assert sqlite_reader().execute(f"SELECT {sql.number(value)}").fetchone()[0] == value


def test_non_finite_numbers_are_refused() -> None:
    for bad in (float("nan"), float("inf"), True):
        with pytest.raises(ValueError):
            sql.number(bad)  # type: ignore[arg-type]


ids = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9_-]{0,20}\Z")
tags = st.from_regex(r"\A[a-zA-Z0-9_.\-]{1,12}\Z")
times = st.integers(10**15, 3 * 10**15)
filters = st.builds(
    MemoryFilter,
    agent_id=st.none() | ids,
    session_id=st.none() | ids,
    memory_types=st.lists(st.sampled_from(["episodic", "session", "decision", "entity"]), max_size=2).map(
        tuple
    ),
    event_types=st.lists(ids, max_size=2).map(tuple),
    tags=st.lists(tags, max_size=3).map(tuple),
    since_us=st.none() | times,
    until_us=st.none() | times,
    content_contains=st.none() | text_without_nul.filter(bool),
    min_importance=st.none() | st.floats(0.01, 1),
)


@settings(max_examples=300, deadline=None)
@given(org=ids, flt=filters, text=text_without_nul)
def test_every_statement_passes_arcs_prepass_with_one_table_reference(
    org: str, flt: MemoryFilter, text: str
) -> None:
    terms = query_terms(text) or query_terms("fallback")
    weights = Weights(tuple(1.5 for _ in terms), 0.3, 0.9)
    statements = [
        queries.list_memories("events", org, flt, order="desc", limit=100, offset=0),
        queries.count("events", org, flt, ["b1", "b2"]),
        queries.count_by_type("events", org, flt),
        queries.ids_and_keys("events", org, flt, limit=10, offset=0),
    ]
    try:
        statements.append(queries.term_stats("events", org, flt, terms))
        statements.append(queries.term_stats("events", org, flt, terms, ["b1", "b2"]))
        statements.append(queries.ranked_search("events", org, flt, terms, weights, limit=10, offset=0))
    except ValueError:
        pass  # over Arc's length limit: refused before sending, which the store turns into a ValidationError
    for statement in statements:
        assert "\\" not in statement
        masked, _ = mask_literals(statement)
        validate_sql(masked)
        references = [m.group(3) for m in _TABLE_REF.finditer(masked)]
        assert set(references) <= {"events", "hits"} and "events" in references
        assert masked.lower().count(" from events ") == 1


@given(st.lists(st.integers(10**15, 3 * 10**15), min_size=1, max_size=50))
def test_delete_predicates_pass_arcs_delete_validator(times_us: list[int]) -> None:
    generator = MemoryIdGenerator()
    predicate = queries.delete_predicate([generator.new(t) for t in times_us])
    assert validate_delete_where(predicate) is False  # accepted, and not a full-table delete
    assert predicate.startswith("COALESCE(") and predicate.endswith(", FALSE)")  # never NULL


# ----------------------------------------------------------------- end to end against the stand-in

CONTENTS = [
    "plain words only",
    "it's quoted 'here'",
    "back\\slash and \\' together",
    "100% sure_thing",
    "FROM events JOIN x",
    "ÄPFEL und Birnen",
    "emoji 🧠 and ünïcödé",
    "$$ dollar $$ quoted",
    "line\nbreak",
]


@pytest.fixture(scope="module")
def loaded_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArcEventStore]:
    root = tmp_path_factory.mktemp("escaping")
    standin = ArcStandIn(root / "arc").start()
    store = ArcEventStore(arc_config(standin), root / "spool")
    from memtrace.engine import Engine, EngineConfig
    from memtrace.models import AddMemoryRequest
    from memtrace.stores.sqlite import SQLiteDatabase, SQLiteMetadataStore

    engine = Engine(store, SQLiteMetadataStore(SQLiteDatabase(root / "meta")), EngineConfig())
    engine.add_memories("org_a", [AddMemoryRequest(agent_id="a", content=c) for c in CONTENTS])
    engine.add_memories("org_b", [AddMemoryRequest(agent_id="a", content=c) for c in CONTENTS])
    standin.flush()
    try:
        yield store
    finally:
        store.close()
        standin.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    needle=st.sampled_from(CONTENTS).flatmap(lambda c: st.sampled_from([c, c[:5], c[-6:], c.upper()]))
    | text_without_nul
)
def test_any_needle_finds_exactly_the_memories_containing_it(
    loaded_store: ArcEventStore, needle: str
) -> None:
    assume(needle)
    expected = sorted(c for c in CONTENTS if needle.lower() in c.lower())
    found = loaded_store.query(
        "org_a", MemoryFilter(content_contains=needle), order="asc", limit=100, offset=0
    )
    assert sorted(r.content for r in found) == expected
    assert all(r.org_id == "org_a" for r in found)
