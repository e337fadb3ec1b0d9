"""Ranked search on Arc orders as the embedded store does: memories with every keyword first, then BM25; and
pages of one query never overlap or skip, whether the memories are in Arc, in the spool, or both."""

from __future__ import annotations

from pathlib import Path

from memtrace import AddMemoryRequest, SearchQuery
from memtrace.engine import Engine
from memtrace.stores.sqlite import SQLiteDatabase, SQLiteMetadataStore

from .helpers import drained, wait_until

ORG = "org_r"


def test_memories_with_every_keyword_rank_first_and_pages_are_consistent(
    make_standin, make_store, tmp_path: Path
) -> None:
    standin = make_standin(max_buffer_age_ms=60_000)  # some memories stay invisible in Arc's buffer
    store = make_store(standin, database="ranking")
    engine = Engine(store, SQLiteMetadataStore(SQLiteDatabase(tmp_path / "meta")))

    def add(content: str) -> str:
        return engine.add_memory(ORG, AddMemoryRequest(agent_id="a", content=content)).id

    # BM25 alone would put the first one on top (one rare word, five times); every keyword wins instead.
    add("penguin penguin penguin penguin penguin")
    for i in range(3):
        add(f"glacier melt report {i}")
    standin.flush()
    wait_until(lambda: drained(store), what="Arc to show the first memories")
    both = add("the penguin sat beside a glacier")  # still in the spool and Arc's buffer
    for i in range(3, 6):
        add(f"glacier melt report {i}")

    query = SearchQuery(query="penguin glacier", limit=10)
    ranked = engine.search_memories(ORG, query).results
    assert ranked[0].id == both and len(ranked) == 8
    pages = [
        m.id
        for offset in (0, 3, 6)
        for m in engine.search_memories(
            ORG, SearchQuery(query="penguin glacier", limit=3, offset=offset)
        ).results
    ]
    assert pages == [m.id for m in ranked]
    standin.flush()  # now all in Arc (and some still in the spool): the same order
    assert [m.id for m in engine.search_memories(ORG, query).results] == [m.id for m in ranked]
