"""Deleting memories on Arc: through its delete API, after a flush, NULL-safe, and refused clearly when Arc
does not allow it (with nothing deleted)."""

from __future__ import annotations

import httpx
import msgpack
import pytest

from memtrace import AddMemoryRequest, ArcConfig, Memtrace, NotFoundError, PermissionDeniedError

from .helpers import arc_config, drained, wait_until


def test_delete_removes_from_arc_and_spool_and_frees_the_dedup_key(standin, tmp_path) -> None:
    with Memtrace.open(tmp_path, arc=arc_config(standin, database="del1")) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        kept = mt.add_memory(AddMemoryRequest(agent_id="keep", content="stays"))
        gone = [mt.add_memory(AddMemoryRequest(agent_id="drop", content=f"goes {i}")) for i in range(5)]
        wait_until(lambda: drained(store), what="Arc to show the memories")
        assert mt.delete_memories(agent_id="drop") == 5
        assert [m.id for m in mt.list_memories().memories] == [kept.id]
        for m in gone:
            with pytest.raises(NotFoundError):
                mt.get_memory(m.id)
        again = mt.add_memory(AddMemoryRequest(agent_id="drop", content="goes 0"))  # its dedup key was freed
    # In Arc: the kept memory and the one written again, none of the deleted ones.
    wait_until(lambda: len(standin.rows("SELECT id FROM events ORDER BY time", "del1")) == 2, what="2 rows")
    assert {r["id"] for r in standin.rows("SELECT id FROM events ORDER BY time", "del1")} == {
        kept.id,
        again.id,
    }


def test_delete_reaches_rows_still_in_arcs_buffer(make_standin, tmp_path) -> None:
    """Arc's delete only rewrites files; rows it buffered (204 already answered) would survive. The store
    flushes Arc first."""
    standin = make_standin(max_buffer_age_ms=60_000)
    with Memtrace.open(tmp_path, arc=arc_config(standin, database="del2")) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        ids = [mt.add_memory(AddMemoryRequest(agent_id="a", content=f"buffered {i}")).id for i in range(3)]
        wait_until(lambda: store.spool.status().pending == 0, what="the memories to be sent")
        assert store.spool.status().sent == 3  # sent, acknowledged, not yet queryable
        mt.delete_memory(ids[0])
        assert mt.get_agent_stats("a").memory_count == 2
    standin.flush()
    assert sorted(r["id"] for r in standin.rows("SELECT id FROM events ORDER BY time", "del2")) == sorted(
        ids[1:]
    )


def test_rows_without_our_columns_survive_a_delete_in_the_same_file(make_standin, tmp_path) -> None:
    """Arc deletes rows whose predicate is NULL (in a file with a real match). A row written by another
    client, in the same Parquet file, with NULL id and agent must survive deleting our agent's memories."""
    standin = make_standin(max_buffer_age_ms=60_000)
    config = arc_config(standin, database="del3")
    with Memtrace.open(tmp_path, arc=config) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        mt.add_memory(AddMemoryRequest(agent_id="a", content="ours"))
        wait_until(lambda: store.spool.status().pending == 0, what="the memory to be sent")
        foreign = {
            "m": "events",
            "columns": {"time": [1_766_400_000_000_000], "org_id": ["org_default"], "note": ["not ours"]},
        }
        response = httpx.post(
            standin.url + "/api/v1/write/msgpack",
            content=msgpack.packb(foreign),
            headers={"Authorization": f"Bearer {standin.admin_token}", "x-arc-database": "del3"},
        )
        assert response.status_code == 204  # same buffer, so the same "file" as ours after the flush
        assert mt.delete_memories(agent_id="a") == 1
    assert standin.rows("SELECT note, id FROM events ORDER BY time", "del3") == [
        {"note": "not ours", "id": None}
    ]


def test_arc_with_deletes_disabled_is_a_clear_error_and_nothing_is_deleted(make_standin, tmp_path) -> None:
    standin = make_standin(delete_enabled=False)
    with Memtrace.open(tmp_path, arc=arc_config(standin, database="del4")) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        flushed = mt.add_memory(AddMemoryRequest(agent_id="a", content="in arc"))
        wait_until(lambda: drained(store), what="Arc to show the memory")
        store.flusher.stop(0)  # keep the next one pending in the spool
        pending = mt.add_memory(AddMemoryRequest(agent_id="a", content="in the spool"))
        with pytest.raises(PermissionDeniedError) as refused:
            mt.delete_memories(agent_id="a")
        assert "delete.enabled=true" in refused.value.message
        assert {m.id for m in mt.list_memories().memories} == {flushed.id, pending.id}  # nothing half-done


def test_deleting_without_an_admin_token_names_the_setting(standin, tmp_path) -> None:
    config: ArcConfig = arc_config(standin, database="del5", admin_token=None)
    with Memtrace.open(tmp_path, arc=config) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        m = mt.add_memory(AddMemoryRequest(agent_id="a", content="x"))
        wait_until(lambda: drained(store), what="Arc to show the memory")
        with pytest.raises(PermissionDeniedError) as refused:
            mt.delete_memory(m.id)
        assert "admin_token" in refused.value.message
        assert mt.get_memory(m.id).id == m.id


def test_deleting_a_thousand_ids_stays_within_arcs_sql_limit(standin, tmp_path) -> None:
    with Memtrace.open(tmp_path, arc=arc_config(standin, database="del6")) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        written = mt.add_memories(
            [AddMemoryRequest(agent_id="a", content=f"memory {i}") for i in range(1000)]
        )
        wait_until(lambda: drained(store), what="Arc to show the memories")
        mt.add_memory(AddMemoryRequest(agent_id="a", content="not named"))
        assert mt.delete_memories(memory_ids=[m.id for m in written]) == 1000
        assert [m.content for m in mt.list_memories().memories] == ["not named"]
