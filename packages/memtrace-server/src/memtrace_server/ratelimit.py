"""Per-organisation rate limiting: a token bucket per org, refilled continuously."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from memtrace.errors import RateLimitedError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`rate` requests per second per organisation, with bursts up to `burst` (default: one second's worth).

    Runs on the event loop only, so it needs no lock.
    """

    def __init__(self, rate: float, burst: int = 0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = float(burst) if burst > 0 else max(1.0, rate)
        self._buckets: dict[str, _Bucket] = {}

    def check(self, org_id: str, now: float | None = None) -> None:
        """Take one token for `org_id`, or raise `RateLimitedError` with the seconds until one is free."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(org_id)
        if bucket is None:
            bucket = self._buckets[org_id] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        wait = (1.0 - bucket.tokens) / self.rate
        raise RateLimitedError(
            f"rate limit exceeded: {self.rate:g} requests per second for this organization",
            retry_after=max(1, math.ceil(wait)),
        )
