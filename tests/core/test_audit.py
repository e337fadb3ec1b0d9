"""The engine's audit trail: what it records by itself, how it reads, its retention, and that a failing trail
never fails the action it records."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from memtrace import AddMemoryRequest, Memtrace, ValidationError
from memtrace.audit import SYSTEM, Actor, AuditAction
from memtrace.engine import Engine
from memtrace.stores import AuditRow, open_stores
from memtrace.timeparse import now_us

DAY_US = 86_400_000_000


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine.from_stores(open_stores(tmp_path / "data"))
    eng.ensure_org("org_a", "A")
    yield eng
    eng.close()


def test_an_embedded_client_s_deletes_are_recorded_as_embedded(tmp_path: Path) -> None:
    with Memtrace.open(tmp_path / "data") as mt:
        m = mt.add_memory(AddMemoryRequest(agent_id="a1", content="remember me"))
        mt.delete_memory(m.id)
        assert mt.delete_memories(agent_id="a1") == 0
    engine = Engine.from_stores(open_stores(tmp_path / "data"))
    try:
        trail = engine.audit.list().entries
    finally:
        engine.close()
    assert [(e.action, e.actor, e.key_id) for e in trail] == [
        ("memories.delete", "embedded", None),
        ("memory.delete", "embedded", None),
    ]
    assert trail[1].filter == {"memory_ids": [m.id]}


def test_callers_record_what_the_engine_does_not_see(engine: Engine) -> None:
    entry = engine.audit.record(
        "org_a",
        AuditAction.RETENTION_RUN,
        actor=SYSTEM,
        filter={"memory_type": "episodic", "older_than": "30d"},
        counts={"memories": 12},
    )
    assert entry is not None and entry.id > 0
    got = engine.audit.list(org_id="org_a", action="retention.run").entries
    assert got == [entry]
    assert got[0].counts == {"memories": 12} and got[0].actor == "system"


def test_reading_validates_and_names_the_field(engine: Engine) -> None:
    for kwargs, field in (
        ({"action": "memory.read"}, "action"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"before": 0}, "before"),
        ({"since": "yesterday"}, "since"),
        ({"org_id": "bad id"}, "org_id"),
    ):
        with pytest.raises(ValidationError) as exc:
            engine.audit.list(**kwargs)
        assert exc.value.field == field


def test_prune_keeps_recent_entries_and_records_itself(engine: Engine) -> None:
    now = now_us()
    for age_days in (400, 380, 10):
        engine.metadata.append_audit(
            AuditRow(0, now - age_days * DAY_US, "org_a", 3, "api", "memory.delete", None, None)
        )
    assert engine.audit.prune(now - 365 * DAY_US) == 2
    assert engine.audit.prune(now - 365 * DAY_US) == 0
    trail = engine.audit.list().entries
    assert [e.action for e in trail] == ["audit.prune", "memory.delete"]
    assert trail[0].counts == {"entries": 2} and trail[0].org_id == "*"


def test_a_trail_that_cannot_be_written_does_not_fail_the_delete(
    engine: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = engine.add_memory("org_a", AddMemoryRequest(agent_id="a1", content="x"))

    def broken(row: AuditRow) -> AuditRow:
        raise OSError("disk full")

    monkeypatch.setattr(engine.metadata, "append_audit", broken)
    with caplog.at_level(logging.ERROR, logger="memtrace.audit"):
        engine.delete_memory("org_a", memory.id, actor=Actor("api", 42))
    assert engine.events.get("org_a", memory.id) is None
    assert (
        "audit entry not stored" in caplog.text and memory.id in caplog.text and '"key_id": 42' in caplog.text
    )
