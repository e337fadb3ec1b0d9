"""`ArcConfig`: where an Arc instance is and how memtrace writes to it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ...errors import ValidationError
from .sql import RESERVED_WORDS

DATABASE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MEASUREMENT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class ArcConfig:
    """An Arc instance and the spool's tuning.

    `token` needs ``read,write``; deleting memories also needs an admin token (Arc's delete and flush
    endpoints are admin-only): give it as `admin_token`, or use an admin `token` for both.

    Writes are acknowledged once they are in the local spool (fsynced SQLite, kept beside the metadata); the
    spool sends them to Arc in batches of up to `batch_size`, at least every `flush_interval` seconds, and
    keeps each batch until Arc can query it. A batch Arc accepted but still cannot show after
    `visibility_timeout` seconds (Arc lost its buffer, or the 204 never reached us) is sent again. While Arc is
    unreachable the spool grows; at `max_spool_rows` writers get `ServiceUnavailableError` (backpressure),
    and nothing is ever dropped.
    """

    url: str
    token: str | None = field(default=None, repr=False)
    database: str = "memory"
    measurement: str = "events"
    admin_token: str | None = field(default=None, repr=False)
    batch_size: int = 5_000
    flush_interval: float = 0.5
    max_spool_rows: int = 1_000_000
    visibility_timeout: float = 60.0
    confirm_interval: float = 1.0
    retry_initial: float = 0.2
    retry_max: float = 10.0
    timeout: float = 30.0
    connect_timeout: float = 5.0
    gzip_min_bytes: int = 64 * 1024
    dedup_checks_arc: bool = True
    """Also look in Arc for duplicates (memories other writers stored). This process's own writes are
    always checked against the spool's dedup index, also while Arc is down."""
    close_timeout: float = 5.0
    """On close, how long to keep sending pending memories (the rest stay in the spool for next time)."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(f"invalid arc url {self.url!r}: expected http(s)://host[:port]", "url")
        if not DATABASE_PATTERN.fullmatch(self.database or ""):
            raise ValidationError(
                f"invalid arc database {self.database!r}: a letter, then letters, digits or '_' (max 64)",
                "database",
            )
        if (
            not MEASUREMENT_PATTERN.fullmatch(self.measurement or "")
            or self.measurement.lower() in RESERVED_WORDS
        ):
            raise ValidationError(
                f"invalid arc measurement {self.measurement!r}: a letter, then letters, digits or '_' "
                "(max 128), not a SQL keyword",
                "measurement",
            )
        for name in ("batch_size", "max_spool_rows"):
            if getattr(self, name) < 1:
                raise ValidationError(f"invalid {name}: must be at least 1", name)
        for name in (
            "flush_interval",
            "visibility_timeout",
            "confirm_interval",
            "retry_initial",
            "retry_max",
            "timeout",
            "connect_timeout",
        ):
            if not getattr(self, name) > 0:
                raise ValidationError(f"invalid {name}: must be positive", name)

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    def redacted(self) -> str:
        """For logs and errors: never the tokens."""
        return f"Arc {self.base_url} database={self.database} measurement={self.measurement}"


__all__ = ["ArcConfig"]
