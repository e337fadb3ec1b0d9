"""Time values as users write them: relative (``30m``, ``2h``, ``7d``) or ISO-8601, stored as UTC microseconds.

This module holds the one rule for which times memtrace accepts: from 1970-01-01T00:00:00Z to
9999-12-31T23:59:59.999999Z, after conversion to UTC (`check_time_us`). Anything outside cannot be rendered back as
an ISO-8601 time (``9999-12-31T23:59:59-12:00`` is year 10000 in UTC), so every time a user sends is checked
against it before anything is written; reads render a stored time outside it clamped to the range.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from .errors import ValidationError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RELATIVE = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_RELATIVE_SECONDS = 10 * 365 * 86400
"""Relative windows beyond ten years are almost certainly typos; the original capped at one year."""


MIN_TIME_US = 0
"""The earliest time memtrace stores: 1970-01-01T00:00:00Z."""
MAX_TIME_US = 253_402_300_799_999_999
"""The latest time memtrace stores: 9999-12-31T23:59:59.999999Z, the last instant ISO-8601 can render."""


def now_us() -> int:
    return time.time_ns() // 1000


def to_us(dt: datetime) -> int:
    """A datetime as UTC microseconds since the epoch; naive datetimes are taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """UTC microseconds as an aware datetime. A value outside the storable range (a row written by an older
    version) is clamped to the range, so reading it never fails."""
    if not MIN_TIME_US <= us <= MAX_TIME_US:
        us = min(max(us, MIN_TIME_US), MAX_TIME_US)
    # One timedelta added to the epoch: half the cost of fromtimestamp + replace (every memory read makes one),
    # and the same value (tests/core/test_timeparse_from_us.py). Positional (days, seconds, microseconds): the
    # keyword form costs 60% more, and integer arithmetic keeps it exact where a float timestamp would not be.
    return _EPOCH + timedelta(0, 0, us)


def check_time_us(us: int, field: str) -> int:
    """`us` if it is a time memtrace can store and render (1970 to 9999, UTC), else `ValidationError`."""
    if not MIN_TIME_US <= us <= MAX_TIME_US:
        when = "before 1970" if us < MIN_TIME_US else "after 9999-12-31T23:59:59.999999Z"
        raise ValidationError(f"invalid {field}: {when} (times must be from 1970 to 9999, in UTC)", field)
    return us


def to_checked_us(dt: datetime, field: str) -> int:
    """`to_us`, checked by `check_time_us`: the conversion for every datetime a user sends."""
    if not isinstance(dt, datetime):
        raise ValidationError(f"invalid {field}: expected a date and time", field)
    return check_time_us(to_us(dt), field)


def parse_relative(value: str) -> int | None:
    """``<n><unit>`` with unit s, m, h, d or w, as microseconds; None if `value` is not of that form."""
    m = _RELATIVE.match(value)
    if not m:
        return None
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    return seconds * 1_000_000


def parse_time(value: str | datetime, field: str, *, now: int | None = None) -> int:
    """Parse a ``since``/``until`` value into UTC microseconds.

    Relative values count back from `now`: ``2h`` is two hours ago. Anything else must be ISO-8601
    (``2026-02-07``, ``2026-02-07T20:15:00Z``, ``2026-02-07T20:15:00.123456+02:00``); a value without a zone is UTC.
    Raises `ValidationError` naming `field` otherwise.
    """
    if isinstance(value, datetime):
        return to_checked_us(value, field)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field}: expected a relative time like 2h or an ISO-8601 time", field)
    rel = parse_relative(value)
    if rel is not None:
        if rel <= 0 or rel > MAX_RELATIVE_SECONDS * 1_000_000:
            raise ValidationError(f"{field}: relative time {value!r} is out of range (1s to 10 years)", field)
        return check_time_us((now_us() if now is None else now) - rel, field)
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{field}: {value[:64]!r} is neither a relative time (30m, 2h, 7d) nor ISO-8601", field
        ) from None
    return to_checked_us(dt, field)
