"""What a write may say about its expiry: `ttl` or `expires_at`, bounded, in the future, not both; each mistake
is a `ValidationError` naming the field, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memtrace import AddMemoryRequest, ValidationError
from memtrace.client import open_engine
from memtrace.engine import Engine
from memtrace.timeparse import to_us

ORG = "org_default"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(tmp_path / "data")
    yield engine
    engine.close()


def request(**fields: object) -> AddMemoryRequest:
    fields.setdefault("content", "something to forget")
    return AddMemoryRequest(agent_id="agent_1", **fields)


@pytest.mark.parametrize(
    ("ttl", "seconds"), [("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("1s", 1)]
)
def test_a_ttl_counts_from_the_write(engine: Engine, ttl: str, seconds: int) -> None:
    memory = engine.add_memory(ORG, request(ttl=ttl))
    assert memory.expires_at is not None
    assert to_us(memory.expires_at) - to_us(memory.time) == pytest.approx(seconds * 1_000_000, abs=50_000)


def test_a_backfilled_memory_expires_a_ttl_after_it_was_written_not_after_its_time(engine: Engine) -> None:
    memory = engine.add_memory(ORG, request(ttl="1h", time=datetime.now(UTC) - timedelta(days=3)))
    assert memory.expires_at is not None
    assert memory.expires_at > datetime.now(UTC) + timedelta(minutes=59)


def test_an_absolute_expiry_is_kept_as_given(engine: Engine) -> None:
    when = datetime(2099, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert engine.add_memory(ORG, request(expires_at=when)).expires_at == when
    assert (
        engine.get_memory(ORG, engine.add_memory(ORG, request(content="b", expires_at=when)).id).expires_at
        == when
    )
    assert engine.add_memory(ORG, request(content="never")).expires_at is None


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"ttl": "soon"}, "ttl", "not a duration"),
        ({"ttl": "0s"}, "ttl", "outside 1 second to 10 years"),
        ({"ttl": "11000d"}, "ttl", "outside"),
        ({"ttl": "-5m"}, "ttl", "not a duration"),
        ({"expires_at": datetime(2001, 1, 1, tzinfo=UTC)}, "expires_at", "in the past"),
        ({"ttl": "1h", "expires_at": datetime(2099, 1, 1, tzinfo=UTC)}, "expires_at", "not both"),
    ],
)
def test_a_bad_expiry_names_its_field_and_writes_nothing(
    engine: Engine, fields: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        engine.add_memory(ORG, request(**fields))
    assert caught.value.field == field and words in caught.value.message
    with pytest.raises(ValidationError) as caught:
        engine.add_memories(ORG, [request(content="fine"), request(**fields)])
    assert caught.value.field == f"memories[1].{field}"
    assert engine.list_memories(ORG).count == 0


def test_the_remember_shortcut_takes_a_ttl(tmp_path: Path) -> None:
    from memtrace import Memtrace

    with Memtrace.open(tmp_path / "client", sweep_every=None) as mt:
        assert mt.remember("agent_1", "scratch", ttl="10m").expires_at is not None
        assert mt.remember("agent_1", "kept").expires_at is None
