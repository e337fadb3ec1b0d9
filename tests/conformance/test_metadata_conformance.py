"""What every MetadataStore must do: organisations, agents, sessions, API keys, Arc instances, change versions.

Each test gets a fresh location of the store under test (`metadata_target`); "replicas" are separate handles on
one location (as two server replicas sharing one database), racing from threads.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.stores import StoreLocation, StoreTarget

from memtrace import ConflictError
from memtrace.stores import (
    AgentRow,
    AgentSessionCounts,
    ArcInstanceRow,
    AuditRow,
    MetadataStore,
    RetentionRow,
    SessionRow,
    StoreBundle,
)

T = TypeVar("T")
NOW = 1_700_000_000_000_000


@pytest.fixture
def location(metadata_target: StoreTarget, tmp_path: Path) -> Iterator[StoreLocation]:
    with metadata_target.locate(tmp_path) as where:
        yield where


@pytest.fixture
def replicas(location: StoreLocation) -> Iterator[Callable[[], StoreBundle]]:
    """Open another handle on the same stores (closed after the test)."""
    opened: list[StoreBundle] = []

    def open_one() -> StoreBundle:
        opened.append(location.open())
        return opened[-1]

    yield open_one
    for stores in opened:
        stores.close()


@pytest.fixture
def meta(replicas: Callable[[], StoreBundle]) -> MetadataStore:
    return replicas().metadata


def agent(org: str, agent_id: str, name: str, created: int = NOW) -> AgentRow:
    return AgentRow(agent_id, org, name, "desc", '{"k": 1}', created, None)


def session(org: str, session_id: str, agent_id: str = "agent_1", created: int = NOW) -> SessionRow:
    return SessionRow(session_id, org, agent_id, "active", '{"a": 1}', created, created, None)


def arc_row(
    org: str, *, url: str = "http://arc:8000", updated: int = NOW, row_id: str = "arc_1"
) -> ArcInstanceRow:
    return ArcInstanceRow(
        row_id, org, url, "memory", "events", b"\x00cipher\xff", b"n" * 12, None, None, updated, updated
    )


def race(n: int, call: Callable[[int], T]) -> list[T]:
    """Run `call(i)` for i < n in n threads released at once."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


# ---------------------------------------------------------------------------- organisations


def test_orgs_create_get_list_and_conflict(meta: MetadataStore) -> None:
    assert meta.get_org("org_a") is None
    created = meta.create_org("org_a", "A", NOW)
    assert (created.id, created.name, created.created_us) == ("org_a", "A", NOW)
    assert meta.get_org("org_a") == created
    meta.create_org("org_b", "B", NOW + 1)
    assert [o.id for o in meta.list_orgs()] == ["org_a", "org_b"]
    with pytest.raises(ConflictError):
        meta.create_org("org_a", "again", NOW + 2)
    assert meta.get_org("org_a") == created


def test_ensure_org_returns_the_stored_row(meta: MetadataStore) -> None:
    first = meta.ensure_org("org_a", "First", NOW)
    again = meta.ensure_org("org_a", "Second", NOW + 5)
    assert again == first and again.name == "First"


def test_replicas_racing_ensure_org_all_get_the_one_stored_row(replicas: Callable[[], StoreBundle]) -> None:
    handles = [replicas().metadata for _ in range(4)]
    rows = race(8, lambda i: handles[i % 4].ensure_org("org_race", f"name {i}", NOW + i))
    assert len(set(rows)) == 1
    assert handles[0].list_orgs() == [rows[0]]


def test_delete_org_removes_its_agents_sessions_keys_and_arc_instance(meta: MetadataStore) -> None:
    for org in ("org_a", "org_b"):
        meta.create_org(org, org, NOW)
        meta.create_agent(agent(org, f"agent_{org}", "bot"))
        meta.create_session(session(org, "sess_1"))
        meta.create_api_key(org, "k", "hash", f"prefix_{org}", "read", NOW)
        meta.put_arc_instance(arc_row(org, row_id=f"arc_{org}"))
    assert meta.delete_org("org_a") is True
    assert meta.delete_org("org_a") is False
    assert meta.get_org("org_a") is None
    assert meta.list_agents("org_a") == [] and meta.list_sessions("org_a", None) == []
    assert meta.list_api_keys("org_a") == [] and meta.find_api_keys("prefix_org_a") == []
    assert meta.get_arc_instance("org_a") is None
    # org_b is untouched
    assert [a.id for a in meta.list_agents("org_b")] == ["agent_org_b"]
    assert [s.id for s in meta.list_sessions("org_b", None)] == ["sess_1"]
    assert len(meta.find_api_keys("prefix_org_b")) == 1
    assert meta.get_arc_instance("org_b") is not None


# ----------------------------------------------------------------------------------- agents


def test_agents_by_id_or_name_newest_first(meta: MetadataStore) -> None:
    a1 = meta.create_agent(agent("org_a", "agent_1", "alpha", NOW))
    a2 = meta.create_agent(agent("org_a", "agent_2", "beta", NOW + 1))
    assert meta.get_agent("org_a", "agent_1") == a1
    assert meta.get_agent("org_a", "beta") == a2
    assert meta.get_agent("org_a", "nobody") is None
    assert meta.list_agents("org_a") == [a2, a1]
    # An id wins over another agent's equal name.
    a3 = meta.create_agent(agent("org_a", "agent_3", "agent_1", NOW + 2))
    assert meta.get_agent("org_a", "agent_1") == a1
    assert meta.delete_agent("org_a", a3.id) is True
    assert meta.delete_agent("org_a", a3.id) is False


def test_agent_names_are_unique_per_org(meta: MetadataStore) -> None:
    meta.create_agent(agent("org_a", "agent_1", "bot"))
    with pytest.raises(ConflictError):
        meta.create_agent(agent("org_a", "agent_2", "bot"))
    meta.create_agent(agent("org_b", "agent_3", "bot"))  # another org may use the name


# --------------------------------------------------------------------------------- sessions


def test_sessions_create_get_list_count(meta: MetadataStore) -> None:
    s1 = meta.create_session(session("org_a", "sess_1", "agent_1", NOW))
    s2 = meta.create_session(session("org_a", "sess_2", "agent_2", NOW + 1))
    assert meta.get_session("org_a", "sess_1") == s1
    assert meta.list_sessions("org_a", None) == [s2, s1]
    assert meta.list_sessions("org_a", "agent_1") == [s1]
    assert meta.count_sessions("org_a", "agent_1") == 1
    assert meta.count_sessions("org_a", "agent_1", status="closed") == 0
    with pytest.raises(ConflictError):
        meta.create_session(session("org_a", "sess_1", "agent_9"))


def test_create_session_exist_ok_returns_the_stored_row(meta: MetadataStore) -> None:
    stored = meta.create_session(session("org_a", "sess_1", "agent_1", NOW))
    again = meta.create_session(session("org_a", "sess_1", "agent_2", NOW + 9), exist_ok=True)
    assert again == stored


def test_replicas_racing_create_session_store_exactly_one(replicas: Callable[[], StoreBundle]) -> None:
    handles = [replicas().metadata for _ in range(4)]

    def create(i: int) -> SessionRow | None:
        try:
            return handles[i % 4].create_session(session("org_a", "sess_race", f"agent_{i}", NOW + i))
        except ConflictError:
            return None

    created = [r for r in race(8, create) if r is not None]
    assert len(created) == 1
    assert handles[0].list_sessions("org_a", None) == created
    # With exist_ok, every racer gets that one row.
    rows = race(8, lambda i: handles[i % 4].create_session(session("org_a", "sess_race"), exist_ok=True))
    assert set(rows) == {created[0]}


def test_update_session_returns_the_updated_row(meta: MetadataStore) -> None:
    meta.create_session(session("org_a", "sess_1"))
    closed = meta.update_session(
        "org_a", "sess_1", status="closed", metadata_json=None, replace_metadata=False, now_us=NOW + 10
    )
    assert closed is not None
    assert (closed.status, closed.closed_us, closed.updated_us, closed.metadata_json) == (
        "closed",
        NOW + 10,
        NOW + 10,
        '{"a": 1}',
    )
    assert meta.get_session("org_a", "sess_1") == closed
    replaced = meta.update_session(
        "org_a", "sess_1", status=None, metadata_json='{"b": 2}', replace_metadata=True, now_us=NOW + 20
    )
    assert replaced is not None
    assert (replaced.status, replaced.closed_us, replaced.metadata_json) == ("closed", NOW + 10, '{"b": 2}')
    assert meta.count_sessions("org_a", "agent_1", status="closed") == 1
    missing = meta.update_session(
        "org_a", "nope", status="closed", metadata_json=None, replace_metadata=False, now_us=NOW
    )
    assert missing is None


def dashboard_sessions(meta: MetadataStore) -> dict[str, SessionRow]:
    """org_a: three agents' sessions with ties in update and creation time, two of them closed; org_b: sessions
    of the same agent ids, which org_a's answers must never count."""
    rows = {
        "s1": SessionRow("s1", "org_a", "alpha", "active", None, NOW, NOW + 50, None),
        "s2": SessionRow("s2", "org_a", "alpha", "closed", None, NOW + 1, NOW + 50, NOW + 50),
        "s3": SessionRow("s3", "org_a", "beta", "active", None, NOW + 1, NOW + 60, None),
        "s4": SessionRow("s4", "org_a", "beta", "active", None, NOW + 3, NOW + 3, None),
        "s5": SessionRow("s5", "org_a", "gamma", "closed", None, NOW + 2, NOW + 70, NOW + 70),
        "s0": SessionRow("s0", "org_a", "alpha", "active", None, NOW + 1, NOW + 50, None),
    }
    for row in rows.values():
        meta.create_session(row)
    for i in range(3):
        meta.create_session(SessionRow(f"b{i}", "org_b", "alpha", "active", None, NOW + 9, NOW + 99, None))
    return rows


def page_ids(meta: MetadataStore, org: str = "org_a", **options: Any) -> tuple[list[str], int]:
    query: dict[str, Any] = {"agent_id": None, "status": None, "order": "updated", "limit": 100, "offset": 0}
    found = meta.page_sessions(org, **{**query, **options})
    return [r.id for r in found.rows], found.total


def test_page_sessions_orders_filters_and_counts_within_the_org(meta: MetadataStore) -> None:
    rows = dashboard_sessions(meta)
    # By update time, newest first; equal update times by creation, then id, both newest first.
    assert page_ids(meta) == (["s5", "s3", "s2", "s0", "s1", "s4"], 6)
    # By creation: exactly `list_sessions`' order.
    assert page_ids(meta, order="created") == ([r.id for r in meta.list_sessions("org_a", None)], 6)
    assert page_ids(meta, order="created")[0] == ["s4", "s5", "s3", "s2", "s0", "s1"]
    assert page_ids(meta, status="active") == (["s3", "s0", "s1", "s4"], 4)
    assert page_ids(meta, agent_id="alpha") == (["s2", "s0", "s1"], 3)
    assert page_ids(meta, agent_id="alpha", status="closed") == (["s2"], 1)
    assert page_ids(meta, agent_id="nobody") == ([], 0)
    assert page_ids(meta, status="paused") == ([], 0)
    assert page_ids(meta, "org_b") == (["b2", "b1", "b0"], 3)
    assert page_ids(meta, "org_c") == ([], 0)
    # Whole rows, as stored.
    assert meta.page_sessions(
        "org_a", agent_id="gamma", status=None, order="updated", limit=10, offset=0
    ).rows == [rows["s5"]]


def test_page_sessions_pages_are_slices_of_the_whole_order(meta: MetadataStore) -> None:
    dashboard_sessions(meta)
    everything, _ = page_ids(meta)
    for limit in (1, 2, 4, 6, 7):
        for offset in range(8):
            assert page_ids(meta, limit=limit, offset=offset) == (everything[offset : offset + limit], 6)
    # Past the end: no rows, and still the total (the page shows "0 of 6").
    assert page_ids(meta, offset=1000) == ([], 6)


def test_count_sessions_by_agent_is_one_row_per_agent_newest_first(meta: MetadataStore) -> None:
    assert meta.count_sessions_by_agent("org_a") == []
    dashboard_sessions(meta)
    meta.create_session(SessionRow("s6", "org_a", "delta", "active", None, NOW + 3, NOW + 3, None))
    assert meta.count_sessions_by_agent("org_a") == [
        # beta's and delta's newest sessions were created at the same time: agent id, descending.
        AgentSessionCounts("delta", 1, 1, NOW + 3),
        AgentSessionCounts("beta", 2, 2, NOW + 3),
        AgentSessionCounts("gamma", 1, 0, NOW + 2),
        AgentSessionCounts("alpha", 3, 2, NOW + 1),
    ]
    assert meta.count_sessions_by_agent("org_b") == [AgentSessionCounts("alpha", 3, 3, NOW + 9)]
    # They agree with the per-agent counts.
    for counts in meta.count_sessions_by_agent("org_a"):
        assert counts.sessions == meta.count_sessions("org_a", counts.agent_id)
        assert counts.active == meta.count_sessions("org_a", counts.agent_id, status="active")


# --------------------------------------------------------------------------------- API keys


def test_api_keys_lookup_list_and_revocation(meta: MetadataStore) -> None:
    meta.create_org("org_a", "A", NOW)
    k1 = meta.create_api_key("org_a", "one", "hash1", "prefix_1", "read", NOW, NOW + 100)
    k2 = meta.create_api_key("org_a", "two", "hash2", "prefix_1", "read,write", NOW + 1)
    k3 = meta.create_api_key("org_b", "one", "hash3", "prefix_3", "admin", NOW + 2)
    assert k1.enabled and k1.expires_us == NOW + 100 and k2.expires_us is None
    assert len({k1.id, k2.id, k3.id}) == 3
    assert sorted(k.id for k in meta.find_api_keys("prefix_1")) == sorted([k1.id, k2.id])
    assert meta.get_api_key(k2.id) == k2
    assert meta.get_api_key(10**9) is None
    assert meta.list_api_keys("org_a") == [k1, k2]
    assert meta.list_api_keys() == [k1, k2, k3]
    with pytest.raises(ConflictError):
        meta.create_api_key("org_a", "one", "hash4", "prefix_4", "read", NOW)

    assert meta.revoke_api_key(k1.id) is True
    assert meta.revoke_api_key(k1.id) is False
    assert [k.id for k in meta.find_api_keys("prefix_1")] == [k2.id]  # lookups see enabled keys only
    revoked = meta.get_api_key(k1.id)
    assert revoked is not None and not revoked.enabled  # by id, revoked keys are still there
    assert [k.enabled for k in meta.list_api_keys("org_a")] == [False, True]


def test_keys_version_changes_on_every_key_change_and_only_then(replicas: Callable[[], StoreBundle]) -> None:
    meta, other = replicas().metadata, replicas().metadata
    meta.create_org("org_a", "A", NOW)
    seen = [other.keys_version()]

    def changed() -> bool:
        version = other.keys_version()  # another replica sees the change
        fresh = version != seen[-1]
        seen.append(version)
        return fresh

    key = meta.create_api_key("org_a", "k", "hash", "prefix", "read", NOW)
    assert changed()
    meta.find_api_keys("prefix")
    meta.list_api_keys()
    meta.create_agent(agent("org_a", "agent_1", "bot"))
    assert not changed()
    assert meta.revoke_api_key(key.id)
    assert changed()
    assert not meta.revoke_api_key(key.id)
    meta.create_api_key("org_a", "k2", "hash", "prefix", "read", NOW)
    assert changed()
    meta.delete_org("org_a")
    assert changed()


# ---------------------------------------------------------------------------- Arc instances


def test_arc_instances_put_replace_get_list_delete(meta: MetadataStore) -> None:
    first = meta.put_arc_instance(arc_row("org_b", row_id="arc_b", updated=NOW))
    assert first == arc_row("org_b", row_id="arc_b", updated=NOW)
    meta.put_arc_instance(arc_row("org_a", row_id="arc_a"))
    assert [i.org_id for i in meta.list_arc_instances()] == ["org_a", "org_b"]

    replacement = ArcInstanceRow(
        "arc_new",
        "org_b",
        "http://other:8000",
        "db2",
        "m2",
        b"c2",
        b"n2" * 6,
        b"ac",
        b"an" * 6,
        NOW + 50,
        NOW + 50,
    )
    stored = meta.put_arc_instance(replacement)
    # A replacement keeps the row's identity and creation time; everything else is the new settings.
    assert (stored.id, stored.created_us) == ("arc_b", NOW)
    assert (stored.url, stored.database, stored.measurement, stored.updated_us) == (
        "http://other:8000",
        "db2",
        "m2",
        NOW + 50,
    )
    assert (stored.token_cipher, stored.admin_cipher, stored.admin_nonce) == (b"c2", b"ac", b"an" * 6)
    assert meta.get_arc_instance("org_b") == stored
    assert meta.delete_arc_instance("org_b") is True
    assert meta.delete_arc_instance("org_b") is False
    assert meta.get_arc_instance("org_b") is None


def test_arc_instances_version_changes_on_put_and_delete(replicas: Callable[[], StoreBundle]) -> None:
    meta, other = replicas().metadata, replicas().metadata
    v0 = other.arc_instances_version()
    meta.put_arc_instance(arc_row("org_a"))
    v1 = other.arc_instances_version()
    meta.list_arc_instances()
    assert v1 != v0 and other.arc_instances_version() == v1
    meta.put_arc_instance(arc_row("org_a", url="http://moved:8000", updated=NOW + 1))
    v2 = other.arc_instances_version()
    assert v2 not in (v0, v1)
    meta.delete_arc_instance("org_a")
    assert other.arc_instances_version() not in (v0, v1, v2)


# -------------------------------------------------------------------------------- audit trail


def audit_row(org: str, action: str = "memories.delete", at: int = NOW, key_id: int | None = 7) -> AuditRow:
    return AuditRow(0, at, org, key_id, "api", action, '{"agent_id":"a1"}', '{"memories":3}')


def everything(meta: MetadataStore, **filters: object) -> list[AuditRow]:
    query: dict[str, object] = {
        "org_id": None,
        "action": None,
        "since_us": None,
        "until_us": None,
        "before_id": None,
        "limit": 1000,
    }
    return meta.list_audit(**{**query, **filters})  # type: ignore[arg-type]


def test_audit_append_returns_the_stored_entry_with_increasing_ids(meta: MetadataStore) -> None:
    first = meta.append_audit(audit_row("org_a"))
    second = meta.append_audit(AuditRow(99, NOW + 1, "org_a", None, "cli", "org.delete", None, None))
    assert first.id > 0 and second.id > first.id  # the given id is ignored
    assert first == dataclasses.replace(audit_row("org_a"), id=first.id)
    assert everything(meta) == [second, first]  # newest first
    assert second.key_id is None and second.filter_json is None and second.counts_json is None


def test_audit_filters_by_org_action_time_and_pages_by_id(meta: MetadataStore) -> None:
    rows = [
        meta.append_audit(audit_row(org, action, NOW + i))
        for i, (org, action) in enumerate(
            [("org_a", "memories.delete"), ("org_b", "memories.delete"), ("org_a", "key.create")] * 3
        )
    ]
    assert [r.id for r in everything(meta, org_id="org_a")] == [
        r.id for r in reversed(rows) if r.org_id == "org_a"
    ]
    assert {r.action for r in everything(meta, action="key.create")} == {"key.create"}
    assert len(everything(meta, org_id="org_a", action="memories.delete")) == 3
    window = everything(meta, since_us=NOW + 2, until_us=NOW + 5)  # since inclusive, until exclusive
    assert [r.time_us for r in window] == [NOW + 4, NOW + 3, NOW + 2]
    # Paging: `before_id` continues after the last entry of the previous page, without gaps or repeats.
    pages: list[AuditRow] = []
    before: int | None = None
    while True:
        page = everything(meta, before_id=before, limit=4)
        pages += page
        if len(page) < 4:
            break
        before = page[-1].id
    assert pages == list(reversed(rows))
    assert everything(meta, org_id="org_c") == []


def test_audit_prune_deletes_only_older_entries_in_bounded_steps(meta: MetadataStore) -> None:
    for i in range(7):
        meta.append_audit(audit_row("org_a", at=NOW + i))
    assert meta.prune_audit(NOW + 5, limit=3) == 3  # bounded: the three oldest
    assert sorted(r.time_us for r in everything(meta)) == [NOW + 3, NOW + 4, NOW + 5, NOW + 6]
    assert meta.prune_audit(NOW + 5, limit=3) == 2
    assert meta.prune_audit(NOW + 5, limit=3) == 0
    assert sorted(r.time_us for r in everything(meta)) == [NOW + 5, NOW + 6]


def test_replicas_write_one_audit_trail(replicas: Callable[[], StoreBundle]) -> None:
    handles = [replicas().metadata for _ in range(3)]
    race(6, lambda i: handles[i % 3].append_audit(audit_row("org_a", at=NOW + i)))
    seen = everything(handles[0])
    assert len(seen) == 6 and len({r.id for r in seen}) == 6
    assert everything(handles[2]) == seen


def test_deleting_an_org_keeps_its_audit_entries(meta: MetadataStore) -> None:
    """The trail is the record of what happened to an organisation, deletion included: it outlives it."""
    meta.create_org("org_a", "A", NOW)
    entry = meta.append_audit(audit_row("org_a"))
    meta.delete_org("org_a")
    assert everything(meta, org_id="org_a") == [entry]


def test_ping_answers(replicas: Callable[[], StoreBundle]) -> None:
    stores = replicas()
    stores.ping()
    stores.close()
    with pytest.raises(Exception):  # noqa: B017 - any error: a closed store must not look ready
        stores.metadata.ping()


# ------------------------------------------------------------------------- tenant isolation

ids = st.sampled_from(["x1", "x2", "shared"])
names = st.sampled_from(["bot", "helper", "shared"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a_agents=st.lists(st.tuples(ids, names), max_size=3, unique_by=(lambda t: t[0], lambda t: t[1])),
    b_agents=st.lists(st.tuples(ids, names), max_size=3, unique_by=(lambda t: t[0], lambda t: t[1])),
    a_sessions=st.lists(ids, max_size=3, unique=True),
    b_sessions=st.lists(ids, max_size=3, unique=True),
    probe=ids,
)
def test_org_b_never_sees_or_changes_org_a_metadata(
    metadata_target: StoreTarget, tmp_path_factory, a_agents, b_agents, a_sessions, b_sessions, probe
) -> None:
    """Agent ids and names, session ids and key names may be equal across orgs; nothing B does reaches A."""
    with metadata_target.locate(tmp_path_factory.mktemp("meta-iso")) as where:
        stores = where.open()
        meta = stores.metadata
        try:
            for org, agents_, sessions_ in (("org_a", a_agents, a_sessions), ("org_b", b_agents, b_sessions)):
                meta.create_org(org, org, NOW)
                for agent_id, name in agents_:
                    meta.create_agent(agent(org, f"{org}_{agent_id}", name))
                for session_id in sessions_:
                    meta.create_session(session(org, session_id))
                meta.create_api_key(org, "shared", f"hash_{org}", f"prefix_{org}", "read", NOW)
            meta.put_arc_instance(arc_row("org_a", row_id="arc_a"))

            def snapshot() -> tuple[object, ...]:
                return (
                    meta.get_org("org_a"),
                    meta.list_agents("org_a"),
                    meta.list_sessions("org_a", None),
                    meta.list_api_keys("org_a"),
                    meta.get_arc_instance("org_a"),
                )

            before = snapshot()
            assert all(a.org_id == "org_b" for a in meta.list_agents("org_b"))
            assert {s.id for s in meta.list_sessions("org_b", None)} == set(b_sessions)
            assert meta.get_agent("org_b", f"org_a_{probe}") is None
            assert all(k.org_id == "org_b" for k in meta.list_api_keys("org_b"))
            assert meta.count_sessions("org_b", "agent_1") == len(b_sessions)
            got = meta.get_session("org_b", probe)
            assert got is None if probe not in b_sessions else got is not None and got.org_id == "org_b"

            # B's writes, by ids and names A also uses, leave A exactly as it was.
            meta.update_session(
                "org_b", probe, status="closed", metadata_json="{}", replace_metadata=True, now_us=NOW + 1
            )
            meta.delete_agent("org_b", f"org_a_{probe}")
            meta.create_session(session("org_b", probe), exist_ok=True)
            meta.ensure_org("org_b", "renamed", NOW + 2)
            meta.delete_org("org_b")
            assert snapshot() == before
        finally:
            stores.close()


# ------------------------------------------------------------------------------------------- retention policies


def test_retention_rules_put_replace_list_delete(meta: MetadataStore) -> None:
    meta.ensure_org("org_a", "A", NOW)
    meta.ensure_org("org_b", "B", NOW)
    meta.put_retention(RetentionRow("org_a", "*", 30 * 86_400_000_000, NOW))
    meta.put_retention(RetentionRow("org_a", "decision", None, NOW))
    meta.put_retention(RetentionRow("org_b", "episodic", 3_600_000_000, NOW))
    # A second put for the same type replaces the rule.
    replaced = meta.put_retention(RetentionRow("org_a", "*", 7 * 86_400_000_000, NOW + 1))
    assert replaced == RetentionRow("org_a", "*", 7 * 86_400_000_000, NOW + 1)
    assert meta.list_retention("org_a") == [
        RetentionRow("org_a", "*", 7 * 86_400_000_000, NOW + 1),
        RetentionRow("org_a", "decision", None, NOW),
    ]
    assert [(r.org_id, r.memory_type) for r in meta.list_retention()] == [
        ("org_a", "*"),
        ("org_a", "decision"),
        ("org_b", "episodic"),
    ]
    assert meta.delete_retention("org_a", "decision") == 1
    assert meta.delete_retention("org_a", "decision") == 0
    assert meta.delete_retention("org_a") == 1
    assert meta.list_retention("org_a") == []
    assert len(meta.list_retention("org_b")) == 1


def test_deleting_an_org_deletes_its_retention_policy(meta: MetadataStore) -> None:
    meta.ensure_org("org_a", "A", NOW)
    meta.put_retention(RetentionRow("org_a", "*", 86_400_000_000, NOW))
    assert meta.delete_org("org_a")
    meta.ensure_org("org_a", "A again", NOW)
    assert meta.list_retention("org_a") == []


def test_concurrent_retention_puts_leave_one_rule(replicas: Callable[[], StoreBundle]) -> None:
    stores = [replicas().metadata for _ in range(2)]
    stores[0].ensure_org("org_a", "A", NOW)
    ages = [n * 3_600_000_000 for n in range(1, 21)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(
                lambda i: stores[i % 2].put_retention(RetentionRow("org_a", "*", ages[i], NOW + i)), range(20)
            )
        )
    (rule,) = stores[0].list_retention("org_a")
    assert rule.max_age_us in ages and stores[1].list_retention("org_a") == [rule]
