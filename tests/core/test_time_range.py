"""Every time a user can send is checked to 1970..9999 (UTC) before anything is written, and a stored time outside
that range (written by an older version) never breaks a read. Run on the embedded client and a live server."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from memtrace import (
    AddMemoryRequest,
    ContextOptions,
    ListOptions,
    Memtrace,
    SearchQuery,
    ValidationError,
)

YEAR_10000_IN_UTC = "9999-12-31T23:59:59-12:00"


def _uid() -> str:
    return "t" + uuid.uuid4().hex[:12]


def test_a_time_after_9999_in_utc_is_refused_and_nothing_is_written(
    open_memtrace: Callable[[], Memtrace],
) -> None:
    mt = open_memtrace()
    agent = _uid()
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12)))
    with pytest.raises(ValidationError) as err:
        mt.add_memory(AddMemoryRequest(agent_id=agent, content="x", time=late))
    assert err.value.field == "time"
    with pytest.raises(ValidationError) as err:
        mt.add_memories(
            [
                AddMemoryRequest(agent_id=agent, content="fine"),
                AddMemoryRequest(agent_id=agent, content="y", time=late),
            ]
        )
    assert err.value.field == "memories[1].time"
    assert mt.list_memories(ListOptions(agent_id=agent)).count == 0
    # The edges of the range are accepted.
    edge = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    stored = mt.add_memory(AddMemoryRequest(agent_id=agent, content="edge", time=edge))
    assert stored.time == edge
    assert mt.list_memories(ListOptions(agent_id=agent, since="1970-01-01T00:00:00Z")).count == 1


@pytest.mark.parametrize("field", ["since", "until"])
def test_since_and_until_outside_the_range_name_the_field(
    open_memtrace: Callable[[], Memtrace], field: str
) -> None:
    mt = open_memtrace()
    with pytest.raises(ValidationError) as err:
        mt.list_memories(ListOptions(agent_id=_uid(), **{field: YEAR_10000_IN_UTC}))
    assert err.value.field == field
    with pytest.raises(ValidationError) as err:
        mt.search_memories(SearchQuery(query="x", **{field: "1969-12-31T23:59:59Z"}))
    assert err.value.field == field


def test_rest_single_and_batch_writes_of_year_10000_are_400_and_store_nothing(live_server) -> None:  # type: ignore[no-untyped-def]
    agent = _uid()
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": live_server.api_key}) as http:
        one = http.post(
            "/api/v1/memories", json={"agent_id": agent, "content": "x", "time": YEAR_10000_IN_UTC}
        )
        assert one.status_code == 400, one.text
        assert one.json()["field"] == "time"
        batch = http.post(
            "/api/v1/memories",
            json={
                "memories": [
                    {"agent_id": agent, "content": "a"},
                    {"agent_id": agent, "content": "b", "time": YEAR_10000_IN_UTC},
                ]
            },
        )
        assert batch.status_code == 400, batch.text
        assert batch.json()["field"] == "memories[1].time"
        listed = http.get("/api/v1/memories", params={"agent_id": agent})
        assert listed.status_code == 200 and listed.json()["count"] == 0


def test_rest_api_key_expiry_of_year_10000_is_refused_and_keys_still_list(live_server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_server.base_url, headers={"x-api-key": live_server.api_key}) as http:
        made = http.post("/api/v1/keys", json={"name": _uid(), "expires_at": YEAR_10000_IN_UTC})
        assert made.status_code == 400, made.text
        assert made.json()["field"] == "expires_at"
        assert http.get("/api/v1/keys").status_code == 200


def _insert_raw_row(db: Path, org_id: str, agent: str, time_us: int) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO memories (id, org_id, time_us, agent_id, session_id, memory_type, event_type, content) "
            "VALUES (?, ?, ?, ?, ?, 'episodic', 'general', 'written by an older version about zebras')",
            ("mem_" + "0" * 26, org_id, time_us, agent, "s" + agent),
        )
    conn.close()


@pytest.mark.parametrize("time_us", [253_402_300_800_000_000 + 43_200_000_000, 2**62, -(2**40)])
def test_a_stored_time_outside_the_range_does_not_break_reads(tmp_path: Path, time_us: int) -> None:
    data = tmp_path / "data"
    agent = _uid()
    with Memtrace.open(data) as mt:
        mt.add_memory(
            AddMemoryRequest(agent_id=agent, content="a normal memory about zebras", session_id="s" + agent)
        )
    _insert_raw_row(data / "memtrace.db", "org_default", agent, time_us)
    with Memtrace.open(data) as mt:
        listed = mt.list_memories(ListOptions(agent_id=agent))
        assert listed.count == 2
        assert all(1970 <= m.time.year <= 9999 for m in listed.memories)
        assert mt.search_memories(SearchQuery(query="zebras")).count == 2
        assert mt.get_agent_stats(agent).memory_count == 2
        assert (
            mt.get_session_context("s" + agent, ContextOptions(since="1970-01-01T00:00:00Z")).memory_count
            >= 1
        )
