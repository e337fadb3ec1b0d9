"""While Arc is away the spool takes writes up to its bound, then pushes back; nothing is ever evicted."""

from __future__ import annotations

import pytest

from memtrace import AddMemoryRequest, ArcConfig, Memtrace, ServiceUnavailableError

from .helpers import arc_config, assert_exactly_once, drained, wait_until


def test_a_full_spool_refuses_writes_with_retry_after_and_keeps_everything(standin, tmp_path) -> None:
    config: ArcConfig = arc_config(standin, database="bp", max_spool_rows=120)
    standin.kill()  # Arc is down before the first write
    with Memtrace.open(tmp_path / "data", arc=config) as mt:
        store = mt._backend.engine.events  # type: ignore[attr-defined]
        acknowledged = {mt.add_memory(AddMemoryRequest(agent_id="a", content=f"m{i}")).id for i in range(100)}
        acknowledged |= {
            m.id
            for m in mt.add_memories([AddMemoryRequest(agent_id="a", content=f"b{i}") for i in range(20)])
        }

        with pytest.raises(ServiceUnavailableError) as refused:
            mt.add_memory(AddMemoryRequest(agent_id="a", content="one too many"))
        assert refused.value.status_code == 503
        assert refused.value.retry_after is not None and refused.value.retry_after >= 1
        assert "spool" in refused.value.message and "120" in refused.value.message
        with pytest.raises(ServiceUnavailableError):  # a batch is refused whole: nothing half-written
            mt.add_memories(
                [AddMemoryRequest(agent_id="a", content="x1"), AddMemoryRequest(agent_id="a", content="x2")]
            )
        assert store.spool.status().total == 120  # nothing evicted to make room

        # Writes already acknowledged are still readable by id while Arc is down.
        some = sorted(acknowledged)[:3]
        assert [mt.get_memory(i).id for i in some] == some

        standin.start()
        wait_until(lambda: drained(store), timeout=60, what="the spool to drain once Arc is back")
        mt.add_memory(AddMemoryRequest(agent_id="a", content="accepted again"))
        assert mt.get_agent_stats("a").memory_count == 121
    assert_exactly_once(standin, "bp", acknowledged)
    # The last write was sent when the client closed; Arc shows it after its buffer age.
    wait_until(lambda: len(standin.rows("SELECT id FROM events ORDER BY time", "bp")) == 121, what="121 rows")
