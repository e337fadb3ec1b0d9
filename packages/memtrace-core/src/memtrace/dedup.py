"""Deduplication keys, byte-compatible with the original Memtrace (spec §3)."""

from __future__ import annotations

import hashlib


def dedup_key(agent_id: str, event_type: str, content: str) -> str:
    """sha256(agent_id | event_type | first 200 bytes of content), first 32 hex characters.

    The 200 bytes are UTF-8 bytes (as Go slices strings), so a multi-byte character may be cut: that is what
    the original hashes, and matching it keeps keys stable across both implementations.
    """
    # 200 characters are at least 200 bytes: encode those only, not a long memory's whole text.
    raw = agent_id.encode() + b"|" + event_type.encode() + b"|" + content[:200].encode("utf-8")[:200]
    return hashlib.sha256(raw).hexdigest()[:32]
