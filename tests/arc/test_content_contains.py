"""``content_contains`` folds case as `str.casefold` does, in Arc as in the spool and the embedded store: "STRASSE"
finds "straße" whether the memory is still in the spool or only in Arc."""

from __future__ import annotations

from pathlib import Path

from memtrace import AddMemoryRequest, SearchQuery
from memtrace.engine import Engine
from memtrace.stores.sqlite import SQLiteDatabase, SQLiteMetadataStore

from .helpers import drained, wait_until

ORG = "org_cf"


def test_arc_and_the_spool_agree_on_case_folding(make_standin, make_store, tmp_path: Path) -> None:
    standin = make_standin()
    store = make_store(standin, database="casefold")
    engine = Engine(store, SQLiteMetadataStore(SQLiteDatabase(tmp_path / "meta")))
    contents = ["Wohnt in der Hauptstraße 5", "HAUPTSTRASSE 7", "Die ﬁrma", "Other"]
    for text in contents:
        engine.add_memory(ORG, AddMemoryRequest(agent_id="a", content=text))

    def found(needle: str) -> list[str]:
        results = engine.search_memories(ORG, SearchQuery(content_contains=needle, order="asc")).results
        return [m.content for m in results]

    expected = {
        "hauptstrasse": contents[:2],
        "HAUPTSTRASSE": contents[:2],
        "hauptstraße": contents[:2],
        "FIRMA": ["Die ﬁrma"],
        "SSE 7": ["HAUPTSTRASSE 7"],
    }
    assert {needle: found(needle) for needle in expected} == expected  # from the spool
    standin.flush()
    wait_until(lambda: drained(store), what="Arc to hold every memory")
    assert {needle: found(needle) for needle in expected} == expected  # from Arc
