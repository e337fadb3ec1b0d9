"""Identifiers: memory ids, agent and session ids, and the mapping of arbitrary keys onto id rules."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from collections.abc import Sequence

ID_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,127}$")
"""Agent, session and org ids: a letter, then up to 127 letters, digits, ``_`` or ``-`` (spec §1.4).

The patterns end in ``$`` so they also serve as JSON Schema patterns (OpenAPI); check with ``fullmatch``,
since ``match`` lets ``$`` accept a trailing newline."""

_RAND_MASK = (1 << 80) - 1
MEMORY_ID_PATTERN = re.compile(r"^mem_[0-9a-hjkmnp-tv-z]{26}$")

# Crockford's base32 alphabet sorts like the numbers it encodes. Encoding ten bits (two characters) per table
# lookup makes an id ~10x cheaper than a per-character loop or base64.b32encode (pure Python before 3.12).
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_INT32 = "0123456789abcdefghijklmnopqrstuv"
# Characters outside the alphabet (and the letters int() would take in their place) become "!", which int() refuses.
_CROCKFORD_TO_INT32 = str.maketrans(
    {**{chr(c): "!" for c in range(128)}, **dict(zip(_CROCKFORD, _INT32, strict=True))}
)


def _b32(value: int) -> str:
    """128 bits as 26 order-preserving base32 characters (the last two bits are padding zeros)."""
    v = value << 2
    p = _PAIRS
    # Unrolled into one join: a generator over the 13 shifts cost as much again as the lookups themselves.
    return "".join(
        (
            p[v >> 120],
            p[(v >> 110) & 1023],
            p[(v >> 100) & 1023],
            p[(v >> 90) & 1023],
            p[(v >> 80) & 1023],
            p[(v >> 70) & 1023],
            p[(v >> 60) & 1023],
            p[(v >> 50) & 1023],
            p[(v >> 40) & 1023],
            p[(v >> 30) & 1023],
            p[(v >> 20) & 1023],
            p[(v >> 10) & 1023],
            p[v & 1023],
        )
    )


class MemoryIdGenerator:
    """ULID-style memory ids: ``mem_`` + 26 Crockford base32 characters (48-bit millisecond time, 80 random bits).

    Ids sort in time order. Within one millisecond of one process they strictly increase (the random part is
    incremented), so memories written in a burst keep their order. Across processes the 80 random bits make a
    collision vanishingly unlikely; the stores' unique index would reject one anyway.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def new(self, time_us: int) -> str:
        """The id of a memory of time `time_us`."""
        return self.new_many((time_us,))[0]

    def new_many(self, times_us: Sequence[int]) -> list[str]:
        """The ids of memories of times `times_us`, in turn, with one lock and one read of random bytes for them
        all: a batch of 1,000 took a lock and made a system call per id, half of an id's cost when every memory
        has its own millisecond (a backfill)."""
        randoms = os.urandom(10 * len(times_us))
        values = []
        with self._lock:
            last_ms, last_rand = self._last_ms, self._last_rand
            for n, time_us in enumerate(times_us):
                ms = max(time_us // 1000, 0)
                if ms == last_ms:
                    last_rand = (last_rand + 1) & _RAND_MASK
                else:
                    last_ms = ms
                    last_rand = int.from_bytes(randoms[10 * n : 10 * n + 10], "big") >> 1  # room to increment
                values.append((ms << 80) | last_rand)
            self._last_ms, self._last_rand = last_ms, last_rand
        return ["mem_" + _b32(v) for v in values]


def id_time_ms(memory_id: str) -> int | None:
    """The millisecond time in a ``mem_`` id, or None if it is not one of ours.

    An id is 128 bits (48 bits of milliseconds, then 80 random) written as 26 base32 characters, most
    significant first, with two padding bits at the end (`MemoryIdGenerator`); the first 10 characters carry the
    48 time bits and 2 random ones. `tests/arc/test_wire_format.py` pins this to `MemoryIdGenerator`."""
    if len(memory_id) != 30 or not memory_id.startswith("mem_"):
        return None
    # Crockford's digits renamed to int()'s base-32 digits, so the parse runs in C (an import reads one per line).
    digits = memory_id[4:14]
    if not digits.isascii():
        return None
    try:
        return int(digits.translate(_CROCKFORD_TO_INT32), 32) >> 2
    except ValueError:
        return None


def new_entity_id(prefix: str) -> str:
    """An agent/session/org id as the original generates it: ``<prefix>_`` + 24 lowercase hex characters."""
    return f"{prefix}_{secrets.token_hex(12)}"


def id_for_key(key: str) -> str:
    """Map any string (a UUID, an e-mail, a chat key) deterministically onto memtrace's id rules.

    A key that already is a valid id is used as it is. Any other key becomes
    ``k_<sanitised key, at most 64 chars>_<first 16 hex of sha256(key)>``, so distinct keys stay distinct and
    the id still reads like the key. Adapters use this for session keys; keep the original key in the
    session's metadata if you need it back.
    """
    if not isinstance(key, str) or key == "":
        raise ValueError("key must be a non-empty string")
    if ID_PATTERN.fullmatch(key):
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    readable = re.sub(r"[^a-zA-Z0-9_-]+", "-", key).strip("-_")[:64]
    return f"k_{readable}_{digest}" if readable else f"k_{digest}"
