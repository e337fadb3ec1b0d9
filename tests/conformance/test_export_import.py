"""Export and import on every store: a file written from one store reads back into another with the same ids,
times, sessions, agents, content, metadata text, tags and dedup keys; importing it again adds nothing; the
imported memories are found by every route (list, get, ranked search), and the dedup window does not apply."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from memtrace import AddMemoryRequest, CreateSessionRequest, ListOptions, RegisterAgentRequest, SearchQuery
from memtrace.engine import Engine
from memtrace.ids import MemoryIdGenerator
from memtrace.records import MemoryRecord

from .conftest import StoreFactory, make_engine

ORG = "org_transfer"


def _fill(engine: Engine) -> None:
    engine.ensure_org(ORG, "Transfer")
    engine.register_agent(ORG, RegisterAgentRequest(name="scribe", description="writes things"))
    session = engine.create_session(
        ORG, CreateSessionRequest(id="sess_one", agent_id="scribe", metadata={"k": [1]})
    )
    engine.close_session(ORG, session.id)
    batch = [
        AddMemoryRequest(
            agent_id="scribe" if n % 3 else "other",
            session_id="sess_one" if n % 2 else None,
            content=f"note {n} about the blue whale ünïcode" if n % 5 == 0 else f"note {n} on krill",
            memory_type=["episodic", "session", "decision", "entity"][n % 4],
            event_type="observation",
            # Key order and spacing as a client sent them: the text must come back byte for byte.
            metadata={"z": n, "a": {"nested": [1, 2.5, None]}, "é": "ü"},
            tags=[f"t{n % 3}", "shared"],
            importance=(n % 10) / 10 if n % 4 else None,
            dedup_key=f"dk-{n}" if n % 7 == 0 else None,
            # Several memories share a time: their order must survive.
            time=f"2026-01-01T00:00:{n % 20:02d}Z",
            ttl="30d" if n % 11 == 0 else None,  # expiry travels too
        )
        for n in range(120)
    ]
    engine.add_memories(ORG, batch)


def _everything(engine: Engine) -> list[dict[str, object]]:
    """Every memory as the API returns it, oldest first."""
    out = engine.list_memories(ORG, ListOptions(limit=1000, order="asc"))
    return [m.model_dump(exclude={"score"}) for m in out.memories]


def _export(engine: Engine, **options: object) -> bytes:
    from memtrace.transfer import ExportOptions

    return b"".join(engine.export_memories(ORG, ExportOptions.model_validate(options)))


def test_a_file_round_trips_exactly_into_a_fresh_store(engine: Engine, engine_factory) -> None:
    _fill(engine)
    data = _export(engine)
    target = engine_factory()
    target.ensure_org(ORG, "Transfer")
    report = target.import_memories(ORG, io.BytesIO(data))
    assert (report.memories, report.skipped, report.agents, report.sessions) == (120, 0, 1, 1)
    assert _everything(target) == _everything(engine)
    assert [a.model_dump() for a in target.list_agents(ORG).agents] == [
        a.model_dump() for a in engine.list_agents(ORG).agents
    ]
    assert target.get_session(ORG, "sess_one") == engine.get_session(ORG, "sess_one")
    # The stored metadata text, byte for byte (not only the same JSON value).
    lines = [json.loads(x) for x in data.splitlines()[1:-1]]
    texts = {x["memory"]["id"]: x["memory"]["metadata_json"] for x in lines if "memory" in x}
    again = [json.loads(x) for x in _export(target).splitlines()[1:-1]]
    assert {x["memory"]["id"]: x["memory"]["metadata_json"] for x in again if "memory" in x} == texts
    assert _export(target).splitlines()[1:] == data.splitlines()[1:]  # all but the header's export time
    expiring = [m for m in _everything(target) if m["expires_at"] is not None]
    assert len(expiring) == 11


def test_imported_memories_are_found_by_every_route(engine: Engine, engine_factory) -> None:
    _fill(engine)
    data = _export(engine)
    target = engine_factory()
    target.ensure_org(ORG, "Transfer")
    target.import_memories(ORG, io.BytesIO(data))
    first = _everything(engine)[0]
    assert target.get_memory(ORG, str(first["id"])).model_dump(exclude={"score"}) == first
    found = target.search_memories(ORG, SearchQuery(query="blue whale", limit=100)).results
    assert sorted(m.id for m in found) == sorted(
        m.id for m in engine.search_memories(ORG, SearchQuery(query="blue whale", limit=100)).results
    )
    assert len(found) == 24
    assert target.list_memories(ORG, ListOptions(session_id="sess_one", limit=1000)).count == 60


def test_importing_again_adds_nothing_and_dedup_windows_do_not_apply(engine: Engine) -> None:
    _fill(engine)
    data = _export(engine)
    # Into the same organisation: every memory is there already (by id), though none went through dedup.
    again = engine.import_memories(ORG, io.BytesIO(data))
    assert (again.memories, again.skipped, again.agents_skipped, again.sessions_skipped) == (0, 120, 1, 1)
    assert len(_everything(engine)) == 120
    # A copy with new ids but the same dedup keys, within the window: imported, since import keeps what is given.
    report = engine.import_memories(ORG, io.BytesIO(_with_new_ids(data)))
    assert report.memories == 120
    assert len(_everything(engine)) == 240


def _with_new_ids(data: bytes) -> bytes:
    """The file with every memory id changed (still valid, and different)."""
    out = []
    for raw in data.splitlines():
        value = json.loads(raw)
        if "memory" in value:
            old = value["memory"]["id"]
            value["memory"]["id"] = old[:-1] + ("1" if old[-1] != "1" else "2")  # the random part
        out.append(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    return b"\n".join(out) + b"\n"


def test_a_filtered_export_holds_only_its_part(engine: Engine) -> None:
    _fill(engine)
    part = _export(engine, agent_id="other", memory_types=["episodic"], tags=["shared"])
    lines = [json.loads(x) for x in part.splitlines()]
    assert lines[0]["filter"] == {"agent_id": "other", "memory_types": ["episodic"], "tags": ["shared"]}
    memories = [x["memory"] for x in lines if "memory" in x]
    assert memories and {(m["agent_id"], m["memory_type"]) for m in memories} == {("other", "episodic")}
    assert not [x for x in lines if "agent" in x]  # "other" was never registered
    assert lines[-1] == {"memtrace_export_end": {"agents": 0, "sessions": 0, "memories": len(memories)}}
    session_part = [json.loads(x) for x in _export(engine, session_id="sess_one").splitlines()]
    assert [x["session"]["id"] for x in session_part if "session" in x] == ["sess_one"]
    assert [x["agent"]["name"] for x in session_part if "agent" in x] == ["scribe"]


def test_import_records_keeps_ids_times_and_skips_held_ids(
    store_factory: StoreFactory, tmp_path: Path
) -> None:
    with store_factory(tmp_path) as stores:
        engine = make_engine(stores)
        ids = MemoryIdGenerator()
        records = [
            MemoryRecord(
                id=ids.new(1_767_225_600_000_000 + n * 1000),
                org_id=ORG,
                time_us=1_767_225_600_000_000 + n * 1000,
                agent_id="a",
                session_id=None,
                memory_type="episodic",
                event_type="general",
                content=f"imported {n}",
                metadata_json=None,
                tags=(),
                dedup_key="same-key",  # one key for all: the dedup window would keep one
                importance=None,
                parent_id=None,
            )
            for n in range(3)
        ]
        assert stores.events.import_records(ORG, [*records, records[0]]) == (3, 1)
        assert stores.events.import_records(ORG, records) == (0, 3)
        listed = engine.list_memories(ORG, ListOptions(order="asc")).memories
        assert [(m.id, m.content, m.dedup_key) for m in listed] == [
            (r.id, r.content, "same-key") for r in records
        ]
        assert [m.time for m in listed] == [r.to_memory().time for r in records]


@pytest.mark.parametrize("page", [1, 2, 7])
def test_export_pages_give_every_memory_once_in_order_even_with_ties(engine: Engine, page: int) -> None:
    from memtrace.records import MemoryFilter
    from memtrace.transfer import iter_records

    _fill(engine)
    expected = [m["id"] for m in _everything(engine)]
    assert [r.id for r in iter_records(engine.events, ORG, MemoryFilter(), page)] == expected
