"""Facts that change (`memtrace.facts`), on every store: supersession by key and by id, as-of reads at every
version boundary, backfills, dedup per key, tenant isolation of keys, and concurrent writers of one key."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.stores import StoreTarget

from memtrace import (
    AddMemoryRequest,
    ConflictError,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    NotFoundError,
    SearchQuery,
    ValidationError,
)
from memtrace.engine import Engine

ORG = "org_f"
KEY = "user:ada/city"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def fact(engine: Engine, content: str, key: str | None = KEY, org: str = ORG, **fields: object) -> Memory:
    fields.setdefault("agent_id", "agent_1")
    return engine.add_memory(org, AddMemoryRequest(content=content, key=key, **fields))


def listed(engine: Engine, org: str = ORG, **opts: object) -> list[str]:
    return sorted(m.content for m in engine.list_memories(org, ListOptions(limit=1000, **opts)).memories)


def history(engine: Engine, key: str = KEY, org: str = ORG) -> list[Memory]:
    return engine.fact_history(org, key, limit=1000).memories


def assert_one_chain(versions: list[Memory]) -> None:
    """Versions in validity order form one chain: each ends where the next begins and points at it; only the
    last is current."""
    for older, newer in itertools.pairwise(versions):
        assert older.valid_until == newer.valid_from and older.superseded_by == newer.id
    assert versions[-1].valid_until is None and versions[-1].superseded_by is None


def test_a_new_version_of_a_key_supersedes_the_current_one(engine: Engine) -> None:
    paris = fact(engine, "Paris", session_id="s1")
    berlin = fact(engine, "Berlin", session_id="s1")
    assert berlin.key == KEY and berlin.valid_until is None and berlin.valid_from == berlin.time
    old = engine.get_memory(ORG, paris.id)  # by id: any version
    assert old.valid_until == berlin.valid_from and old.superseded_by == berlin.id
    assert engine.get_fact(ORG, KEY).id == berlin.id
    assert [m.content for m in history(engine)] == ["Paris", "Berlin"]
    assert listed(engine) == ["Berlin"]
    assert listed(engine, include_superseded=True) == ["Berlin", "Paris"]
    assert listed(engine, session_id="s1") == ["Berlin"]
    found = engine.search_memories(ORG, SearchQuery(query="Paris")).results
    assert found == []
    assert [
        m.content for m in engine.search_memories(ORG, SearchQuery(content_contains="Paris")).results
    ] == []
    everything = engine.search_memories(ORG, SearchQuery(query="Paris", include_superseded=True)).results
    assert [m.content for m in everything] == ["Paris"]
    assert engine.count_memories_by_type(ORG) == {"episodic": 1}
    # A delete preview counts what a delete removes: every version.
    assert engine.count_memories(ORG, agent_id="agent_1") == 2


def test_a_key_without_versions_is_not_found_and_keys_are_validated(engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        engine.get_fact(ORG, "nobody/knows")
    assert history(engine, "nobody/knows") == []
    for bad in ("", "/leading", "trailing/", "has space", "x" * 257, "ünïcode"):
        with pytest.raises(ValidationError) as info:
            fact(engine, "v", key=bad)
        assert info.value.field == "key"
    assert listed(engine, include_superseded=True) == []


def test_supersedes_by_id_without_keys(engine: Engine) -> None:
    draft = fact(engine, "plan: ship friday", key=None)
    final = fact(engine, "plan: ship monday", key=None, supersedes=[draft.id])
    assert engine.get_memory(ORG, draft.id).superseded_by == final.id
    assert listed(engine) == ["plan: ship monday"]
    with pytest.raises(ConflictError):  # already superseded: exactly one successor
        fact(engine, "plan: ship tuesday", key=None, supersedes=[draft.id])
    missing = "mem_" + "0" * 26
    with pytest.raises(NotFoundError, match=r"supersedes\[1\]"):
        fact(engine, "never written", key=None, supersedes=[final.id, missing])
    with pytest.raises(NotFoundError, match=r"memories\[1\]\.supersedes\[0\]"):
        engine.add_memories(
            ORG,
            [
                AddMemoryRequest(agent_id="agent_1", content="fine"),
                AddMemoryRequest(agent_id="agent_1", content="bad", supersedes=[missing]),
            ],
        )
    assert listed(engine, include_superseded=True) == ["plan: ship friday", "plan: ship monday"]
    with pytest.raises(ValidationError) as info:
        fact(engine, "x", key=None, supersedes=["not-an-id"])
    assert info.value.field == "supersedes[0]"


def test_as_of_at_before_and_after_each_boundary(engine: Engine) -> None:
    t1, t2, t3 = T0, T0 + timedelta(days=1), T0 + timedelta(days=2)
    for content, t in (("Paris", t1), ("Berlin", t2), ("Rome", t3)):
        fact(engine, content, time=t)

    def at(t: datetime) -> list[str]:
        return listed(engine, as_of=t.isoformat())

    assert at(t1 - US) == []
    assert at(t1) == ["Paris"]
    assert at(t2 - US) == ["Paris"]
    assert at(t2) == ["Berlin"]
    assert at(t3 - US) == ["Berlin"]
    assert at(t3) == ["Rome"]
    assert at(t3 + timedelta(days=30)) == ["Rome"]
    ranked = engine.search_memories(ORG, SearchQuery(query="Berlin", as_of=(t2 + US).isoformat())).results
    assert [m.content for m in ranked] == ["Berlin"]
    assert engine.list_facts(ORG, as_of=(t1 + US).isoformat()).memories[0].content == "Paris"
    with pytest.raises(ValidationError) as info:
        engine.list_memories(ORG, ListOptions(as_of="yesterday-ish"))
    assert info.value.field == "as_of"
    assert_one_chain(history(engine))


def test_a_backfill_goes_into_history_and_the_current_version_stays(engine: Engine) -> None:
    fact(engine, "Paris", time=T0)
    fact(engine, "Berlin", time=T0 + timedelta(days=10))
    # Recorded now, true since day 5: it goes between Paris and Berlin.
    rome = fact(engine, "Rome", valid_from=T0 + timedelta(days=5))
    assert rome.valid_from == T0 + timedelta(days=5) and rome.valid_until == T0 + timedelta(days=10)
    assert engine.get_fact(ORG, KEY).content == "Berlin"
    versions = history(engine)
    assert [m.content for m in versions] == ["Paris", "Rome", "Berlin"]
    assert_one_chain(versions)
    assert listed(engine, as_of=(T0 + timedelta(days=6)).isoformat()) == ["Rome"]
    # Before the first version: it ends where the first begins.
    lyon = fact(engine, "Lyon", valid_from=T0 - timedelta(days=3))
    assert lyon.valid_until == T0 and lyon.superseded_by == versions[0].id
    assert_one_chain(history(engine))
    with pytest.raises(ValidationError) as info:
        fact(engine, "future", time=T0, valid_from=T0 + timedelta(days=1))
    assert info.value.field == "valid_from"


def test_the_same_content_again_for_a_key_is_a_duplicate_not_a_version(engine: Engine) -> None:
    fact(engine, "Paris")
    with pytest.raises(ConflictError):
        fact(engine, "Paris")
    result = engine.add_memories(
        ORG,
        [
            AddMemoryRequest(agent_id="agent_1", content="Paris", key=KEY),
            AddMemoryRequest(agent_id="agent_1", content="Berlin", key=KEY),
            AddMemoryRequest(agent_id="agent_1", content="Paris", key=KEY),  # a change back is a real version
        ],
    )
    assert result.skipped_indexes == [0]
    assert [m.content for m in history(engine)] == ["Paris", "Berlin", "Paris"]
    assert_one_chain(history(engine))
    # The same content under another key is another fact.
    fact(engine, "Paris", key="user:bob/city")
    assert engine.get_fact(ORG, "user:bob/city").content == "Paris"


def test_keys_are_scoped_to_the_organisation(engine: Engine) -> None:
    fact(engine, "Paris", org="org_x")
    fact(engine, "Oslo", org="org_y")
    fact(engine, "Berlin", org="org_x")
    assert engine.get_fact("org_x", KEY).content == "Berlin"
    assert engine.get_fact("org_y", KEY).content == "Oslo"
    assert [m.content for m in history(engine, org="org_y")] == ["Oslo"]
    with pytest.raises(NotFoundError):
        engine.get_fact("org_z", KEY)
    oslo = engine.get_fact("org_y", KEY)
    with pytest.raises(NotFoundError):  # another org's memory cannot be superseded
        fact(engine, "taken over", key=None, org="org_x", supersedes=[oslo.id])


def test_context_lists_current_facts_and_never_a_superseded_one(engine: Engine) -> None:
    engine.create_session(ORG, CreateSessionRequest(agent_id="agent_1", id="chat"))
    fact(engine, "Paris", session_id="chat")
    fact(engine, "user asked about trains", key=None, session_id="chat")
    fact(engine, "Berlin", session_id="other")  # learnt elsewhere by the same agent
    fact(engine, "tea", key="user:ada/drink", agent_id="agent_2")  # another agent's fact
    text = engine.get_session_context(ORG, "chat").context
    assert "Known Facts (1)" in text and "- user:ada/city: Berlin" in text
    assert "Paris" not in text and "tea" not in text and "trains" in text
    assert text == engine.get_session_context(ORG, "chat").context  # deterministic
    tight = engine.get_session_context(ORG, "chat", ContextOptions(max_tokens=45)).context
    assert "Berlin" in tight and "Paris" not in tight


def test_threads_writing_one_key_leave_exactly_one_current(engine: Engine) -> None:
    n = 8
    barrier = threading.Barrier(n)

    def write(i: int) -> None:
        barrier.wait()
        for round_ in range(4):
            fact(engine, f"value {i}.{round_}")

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(write, range(n)))
    versions = history(engine)
    assert len(versions) == n * 4
    assert_one_chain(versions)
    assert listed(engine) == [engine.get_fact(ORG, KEY).content]
    assert len(engine.list_facts(ORG).memories) == 1


def test_concurrent_writers_of_one_key_leave_exactly_one_current(
    shared_target: StoreTarget, tmp_path: Path
) -> None:
    n = 6
    with shared_target.locate(tmp_path) as location:
        engines = [Engine.from_stores(location.open()) for _ in range(n)]
        try:
            barrier = threading.Barrier(n)

            def write(i: int) -> None:
                barrier.wait()
                for round_ in range(5):
                    fact(engines[i], f"value {i}.{round_}")

            with ThreadPoolExecutor(n) as pool:
                list(pool.map(write, range(n)))
            versions = history(engines[0])
            assert len(versions) == n * 5
            assert_one_chain(versions)
            assert listed(engines[0]) == [engines[0].get_fact(ORG, KEY).content]
        finally:
            for engine in engines:
                engine.close()


WRITER = r"""
import sys
from memtrace import AddMemoryRequest, Memtrace
url, name = sys.argv[1], sys.argv[2]
with Memtrace.open(url, org_id="org_f") as mt:
    for i in range(15):
        mt.add_memory(AddMemoryRequest(agent_id=name, content=f"{name} {i}", key="user:ada/city"))
        mt.add_memories([AddMemoryRequest(agent_id=name, content=f"{name} batch {i}", key="user:ada/city")])
print("done")
"""


def test_processes_writing_one_key_leave_exactly_one_current(
    shared_target: StoreTarget, tmp_path: Path
) -> None:
    with shared_target.locate(tmp_path) as location:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, location.url, name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for name in ("writer_a", "writer_b")
        ]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0 and out.strip() == b"done", err.decode()[-2000:]
        engine = Engine.from_stores(location.open())
        try:
            versions = history(engine)
            assert len(versions) == 60
            assert_one_chain(versions)
        finally:
            engine.close()


def test_an_export_carries_every_version_and_an_import_keeps_them_as_they_were(
    engine: Engine, engine_factory
) -> None:
    import io

    from memtrace.transfer import ExportOptions

    for content, days in (("Paris", 0), ("Berlin", 1), ("Rome", 2)):
        fact(engine, content, time=T0 + timedelta(days=days))
    fact(engine, "Lyon", valid_from=T0 + timedelta(hours=36))
    engine.ensure_org(ORG, "Facts")
    data = b"".join(engine.export_memories(ORG, ExportOptions()))
    target = engine_factory()
    target.ensure_org(ORG, "Facts")
    assert target.import_memories(ORG, io.BytesIO(data)).memories == 4
    assert [m.model_dump() for m in history(target)] == [m.model_dump() for m in history(engine)]
    assert target.get_fact(ORG, KEY).content == "Rome"
    assert listed(target) == ["Rome"]
    # The next version written after the import supersedes the imported current one.
    fact(target, "Oslo")
    assert [m.content for m in history(target)] == ["Paris", "Berlin", "Lyon", "Rome", "Oslo"]
    assert_one_chain(history(target))
