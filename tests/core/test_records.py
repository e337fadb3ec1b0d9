"""The fast Memory construction on the read path gives exactly what validation would."""

import json

from hypothesis import given
from hypothesis import strategies as st

from memtrace import Memory
from memtrace.records import MemoryRecord


def test_records_become_the_same_memory_validation_would_build() -> None:
    record = MemoryRecord(
        id="mem_01m7ys1g25078m02kn45ytye1r",
        org_id="o",
        time_us=1_770_495_300_123_456,
        agent_id="a",
        session_id="s",
        memory_type="decision",
        event_type="decision",
        content="c",
        metadata_json='{"reasoning":"r","n":[1,2]}',
        tags=("x", "y"),
        dedup_key="k",
        importance=0.5,
        parent_id=None,
        score=1.5,
    )
    fast = record.to_memory()
    validated = Memory.model_validate(fast.model_dump())
    assert fast == validated
    assert fast.model_dump_json() == validated.model_dump_json()
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.model_copy(update={"content": "d"}).content == "d"


def test_keyword_index_catches_up_across_processes_and_backlog_bound(tmp_path) -> None:
    """A second store instance (another process's view) indexes rows the first one wrote, and a bounded
    backlog is indexed by the writer itself."""
    from memtrace import AddMemoryRequest, SearchQuery
    from memtrace.client import open_engine

    writer = open_engine(tmp_path)
    writer.events.index_backlog = 10  # type: ignore[attr-defined]
    writer.add_memories(
        "org_default", [AddMemoryRequest(agent_id="a", content=f"otter {i}") for i in range(25)]
    )
    with writer.events.db.read() as conn:  # type: ignore[attr-defined]
        indexed = conn.execute("SELECT indexed_rowid FROM fts_state").fetchone()[0]
    assert indexed == 25  # the write itself caught up once the backlog passed 10
    writer.add_memory("org_default", AddMemoryRequest(agent_id="a", content="otter late"))
    reader = open_engine(tmp_path)
    assert reader.search_memories("org_default", SearchQuery(query="otter", limit=100)).count == 26


def test_sqlite_rows_come_back_as_the_records_written(tmp_path) -> None:
    """Every field survives the SQLite store's row -> record conversion, which is positional (columns in
    `MemoryRecord`'s field order) for speed."""
    from memtrace.stores.sqlite.database import SQLiteDatabase
    from memtrace.stores.sqlite.events import SQLiteEventStore

    record = MemoryRecord(
        id="mem_01m7ys1g25078m02kn45ytye1r",
        org_id="o",
        time_us=1_770_495_300_123_456,
        agent_id="agent",
        session_id="sess",
        memory_type="entity",
        event_type="fact",
        content="Ada lives in Berlin",
        metadata_json='{"n":1}',
        tags=("x", "y"),
        dedup_key="dk",
        importance=0.25,
        parent_id="mem_parent",
        expires_us=1_870_495_300_000_000,
        fact_key="user:ada/city",
        valid_from_us=1_770_495_000_000_000,
        valid_until_us=1_770_495_400_000_000,
        superseded_by="mem_01m7ys1g25078m02kn45ytye1s",
    )
    store = SQLiteEventStore(SQLiteDatabase(tmp_path / "store"))
    try:
        store.import_records("o", [record])
        assert store.get("o", record.id) == record
    finally:
        store.close()


@given(
    st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
            lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children),
            max_leaves=8,
        ),
        max_size=4,
    ),
    st.sampled_from(["", " ", "\n"]),
)
def test_metadata_reads_back_as_json_loads_reads_it(value: dict, padding: str) -> None:
    from memtrace.records import _metadata

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert _metadata(text) == json.loads(text)
    assert _metadata(padding + text + padding) == json.loads(padding + text + padding)
