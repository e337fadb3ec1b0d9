"""Facts that change on Arc once the memories have left the spool: the fact ledger in the spool file still
says which versions are current, what was current when, and it follows deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memtrace import AddMemoryRequest, ListOptions, Memtrace, NotFoundError, SearchQuery

from .helpers import arc_config, drained, wait_until

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_versions_in_arc_read_as_current_as_of_and_history(standin, tmp_path) -> None:
    with Memtrace.open(tmp_path, arc=arc_config(standin, database="facts1")) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        for i, city in enumerate(("Paris", "Berlin", "Rome")):
            mt.add_memory(
                AddMemoryRequest(agent_id="a", content=city, key="user:ada/city", time=T0 + timedelta(days=i))
            )
        note = mt.add_memory(AddMemoryRequest(agent_id="a", content="unkeyed note", time=T0))
        mt.add_memory(
            AddMemoryRequest(
                agent_id="a", content="Lyon", key="user:ada/city", valid_from=T0 + timedelta(hours=36)
            )
        )
        wait_until(lambda: drained(store), what="Arc to show the memories")
        assert {m.content for m in mt.list_memories(ListOptions(limit=100)).memories} == {
            "Rome",
            "unkeyed note",
        }
        assert mt.get_fact("user:ada/city").content == "Rome"
        assert [m.content for m in mt.fact_history("user:ada/city").memories] == [
            "Paris",
            "Berlin",
            "Lyon",
            "Rome",
        ]
        as_of = (T0 + timedelta(hours=40)).isoformat()
        assert {m.content for m in mt.list_memories(ListOptions(as_of=as_of)).memories} == {
            "Lyon",
            "unkeyed note",
        }
        assert mt.search_memories(SearchQuery(query="Berlin")).results == []
        mt.delete_memory(mt.get_fact("user:ada/city").id)
        with pytest.raises(NotFoundError):
            mt.get_fact("user:ada/city")
        assert [m.content for m in mt.list_memories().memories] == [note.content]


def test_a_page_is_full_however_many_superseded_versions_come_first(standin, tmp_path) -> None:
    with Memtrace.open(tmp_path, arc=arc_config(standin, database="facts2")) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        mt.add_memory(AddMemoryRequest(agent_id="a", content="an older note", time=T0))
        for i in range(60):
            mt.add_memory(
                AddMemoryRequest(
                    agent_id="a", content=f"v{i}", key="counter", time=T0 + timedelta(minutes=i + 1)
                )
            )
        for drained_yet in (False, True):
            if drained_yet:
                wait_until(lambda: drained(store), what="Arc to show the memories")
            page = mt.list_memories(ListOptions(agent_id="a", limit=2)).memories
            assert [m.content for m in page] == ["v59", "an older note"]
            assert [
                m.content for m in mt.list_memories(ListOptions(agent_id="a", offset=1, limit=5)).memories
            ] == ["an older note"]
