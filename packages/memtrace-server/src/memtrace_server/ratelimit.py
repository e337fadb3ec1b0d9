"""Token buckets, refilled continuously: per organisation (requests), and per client address (failed
authentications)."""

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
    """`rate` events per second per key, with bursts up to `burst` (default: one second's worth).

    At most `max_keys` buckets are kept: past that, buckets that have refilled (their key is idle) are dropped,
    then the oldest, so a flood of distinct keys (client addresses) cannot grow memory without bound.
    Runs on the event loop only, so it needs no lock.
    """

    def __init__(
        self, rate: float, burst: int = 0, *, what: str = "requests", per: str = "organization",
        max_keys: int = 100_000,
    ) -> None:  # fmt: skip
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = float(burst) if burst > 0 else max(1.0, rate)
        self.what = what
        self.per = per
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key: str, now: float | None = None) -> None:
        """Take one token for `key`, or raise `RateLimitedError` with the seconds until one is free."""
        bucket = self._refill(key, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        raise self._limited(bucket)

    def ensure_available(self, key: str, now: float | None = None) -> None:
        """Raise `RateLimitedError` if `key` has no token left, without taking one."""
        bucket = self._buckets.get(key)
        if bucket is not None and self._refill(key, now).tokens < 1.0:
            raise self._limited(bucket)

    def charge(self, key: str, now: float | None = None) -> None:
        """Take one token for `key` if there is one (an event that already happened)."""
        bucket = self._refill(key, now)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def _refill(self, key: str, now: float | None) -> _Bucket:
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def _prune(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        if (
            len(self._buckets) >= self.max_keys
        ):  # none idle: drop the oldest half (dicts keep insertion order)
            for k in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[k]

    def _limited(self, bucket: _Bucket) -> RateLimitedError:
        wait = (1.0 - bucket.tokens) / self.rate
        return RateLimitedError(
            f"rate limit exceeded: {self.rate:g} {self.what} per second for this {self.per}",
            retry_after=max(1, math.ceil(wait)),
        )
