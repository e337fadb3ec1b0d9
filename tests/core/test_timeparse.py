from datetime import UTC, datetime, timedelta, timezone

import pytest

from memtrace import ValidationError
from memtrace.timeparse import from_us, parse_time, to_us

NOW = to_us(datetime(2026, 2, 7, 20, 15, tzinfo=UTC))


@pytest.mark.parametrize(
    ("value", "delta"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("45s", timedelta(seconds=45)),
        (" 24h ", timedelta(hours=24)),
    ],
)
def test_relative_times_count_back_from_now(value: str, delta: timedelta) -> None:
    assert from_us(parse_time(value, "since", now=NOW)) == from_us(NOW) - delta


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-07", datetime(2026, 2, 7, tzinfo=UTC)),
        ("2026-02-07T20:15:00Z", datetime(2026, 2, 7, 20, 15, tzinfo=UTC)),
        ("2026-02-07T20:15:00.123456Z", datetime(2026, 2, 7, 20, 15, 0, 123456, tzinfo=UTC)),
        ("2026-02-07T22:15:00+02:00", datetime(2026, 2, 7, 20, 15, tzinfo=UTC)),
        ("2026-02-07T20:15:00", datetime(2026, 2, 7, 20, 15, tzinfo=UTC)),  # no zone: UTC
    ],
)
def test_iso_times(value: str, expected: datetime) -> None:
    assert from_us(parse_time(value, "until")) == expected


@pytest.mark.parametrize("value", ["yesterday", "9999999h", "0h", "2h30m", "", "2026-13-01", "h2"])
def test_bad_times_name_the_field(value: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_time(value, "since")
    assert err.value.field == "since" and "since" in str(err.value)


def test_round_trip_microseconds() -> None:
    dt = datetime(2031, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))
    assert from_us(to_us(dt)) == dt
