"""`from_us` (every memory read turns its time into a datetime with it) gives exactly the aware UTC datetime of
the microseconds, across the storable range, and clamps what lies outside."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from memtrace.timeparse import MAX_TIME_US, MIN_TIME_US, from_us


@given(st.integers(min_value=MIN_TIME_US, max_value=MAX_TIME_US))
def test_from_us_is_the_utc_datetime_of_the_microseconds(us: int) -> None:
    expected = datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)
    got = from_us(us)
    assert got == expected and got.tzinfo is UTC and got.isoformat() == expected.isoformat()


def test_from_us_clamps_times_outside_the_range() -> None:
    assert from_us(MIN_TIME_US - 5) == from_us(MIN_TIME_US) == datetime(1970, 1, 1, tzinfo=UTC)
    assert from_us(MAX_TIME_US + 5) == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
