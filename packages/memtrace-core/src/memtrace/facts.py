"""Facts that change: how a new version of a fact takes its place in the fact's history.

A memory with a ``key`` is a *version* of that fact; a memory with ``supersedes=[ids]`` replaces those memories
whatever their key. Each version is valid over ``[valid_from, valid_until)``; ``valid_until`` is None while it
is current. The rule, in one place for every store (each store runs it inside its write transaction, with its
`FactLedger` reading and updating its own rows):

- **By key.** Let ``t`` be the new version's ``valid_from``. The version valid at ``t`` (the latest one whose
  ``valid_from <= t``, if its interval reaches past ``t``) is cut at ``t`` and points at the new one, which takes
  over the rest of that interval: when that version was current, the new one becomes current; when ``t`` falls
  inside history (a *backfill*), the new version is inserted into history and ends where the cut one ended, so
  the current version stays current. When no version covers ``t`` (``t`` is before the first one), the new
  version ends where the next one begins.
- **Dedup per key.** When the version valid at ``t`` has the same content and metadata, the write is a duplicate:
  nothing is written (the caller gets `ConflictError`, a batch counts it as skipped).
- **By id.** Each memory named in ``supersedes`` must exist, be current, and have become valid no later than the
  new version; it is cut at ``t`` and points at the new one.

Nothing here does I/O; `place_version` is the whole rule. One copy of it lives elsewhere, for speed: PostgreSQL
runs a small write's placement server-side, in one round trip (``memtrace_append_facts`` in
``stores/postgres/schema.py``). A change to the rule changes that function too, through a new migration;
``tests/postgres/test_append_facts_function.py`` compares the two.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from .errors import ConflictError, NotFoundError, ValidationError
from .records import MemoryRecord

MAX_KEY_LENGTH = 256
MAX_SUPERSEDES = 100
KEY_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.:/@-]{0,254}[A-Za-z0-9])?$")
"""1-256 characters of ``A-Z a-z 0-9 _ . : / @ -``, starting and ending with a letter or digit
(e.g. ``user:ada/city``, ``project.alpha/owner``). Keys are case-sensitive and scoped to the organisation."""
KEY_FORMAT = (
    "1-256 characters of A-Z, a-z, 0-9 and _ . : / @ -, starting and ending with a letter or digit "
    "(e.g. user:ada/city)"
)


def check_key(value: object, field: str = "key") -> str | None:
    """A fact key in the documented format (`KEY_PATTERN`), or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or not KEY_PATTERN.match(value):
        raise ValidationError(f"invalid {field}: {KEY_FORMAT}", field)
    return value


def key_prefix_bounds(prefix: str) -> tuple[str, str]:
    """``[low, high)`` holding every key that starts with `prefix`: keys are ASCII below ``\\x7f``."""
    return prefix, prefix + "\x7f"


def fingerprint(content: str, metadata_json: str | None) -> str:
    """What "the same memory again" compares: content and metadata."""
    return hashlib.sha256(f"{content}\x00{metadata_json or ''}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Version:
    """What the rule needs to know of a stored version."""

    id: str
    valid_from_us: int
    valid_until_us: int | None
    superseded_by: str | None
    fingerprint: str


class FactLedger(Protocol):
    """A store's view of the versions of one organisation, inside its write transaction."""

    def at(self, key: str, t: int) -> Version | None:
        """The version of `key` with the latest ``valid_from <= t`` (on a tie, the one written last)."""
        ...

    def after(self, key: str, t: int) -> Version | None:
        """The version of `key` with the earliest ``valid_from > t``."""
        ...

    def by_id(self, memory_id: str) -> Version | None:
        """Any memory of the organisation as a version (valid_from defaulting to its time)."""
        ...

    def cut(self, memory_id: str, valid_until_us: int, superseded_by: str) -> None:
        """Record that `memory_id` stopped being valid at `valid_until_us`, replaced by `superseded_by`."""
        ...


def valid_from(record: MemoryRecord) -> int:
    return record.valid_from_us if record.valid_from_us is not None else record.time_us


def place_version(ledger: FactLedger, record: MemoryRecord) -> bool:
    """Fit `record` into its fact's history (module docstring): set its ``valid_until_us``/``superseded_by`` and
    cut the versions it replaces. Returns False, changing nothing, when it is a duplicate of the version it
    would replace. Raises `NotFoundError`/`ConflictError`/`ValidationError` for a bad ``supersedes`` target;
    the caller's transaction then writes nothing."""
    t = valid_from(record)
    cuts: list[tuple[str, int, str]] = []
    if record.fact_key is not None:
        at = ledger.at(record.fact_key, t)
        if at is not None and (at.valid_until_us is None or at.valid_until_us > t):
            if at.fingerprint == fingerprint(record.content, record.metadata_json):
                return False
            record.valid_until_us, record.superseded_by = at.valid_until_us, at.superseded_by
            cuts.append((at.id, t, record.id))
        else:
            nxt = ledger.after(record.fact_key, t)
            if nxt is not None:
                record.valid_until_us, record.superseded_by = nxt.valid_from_us, nxt.id
    cut_ids = {c[0] for c in cuts}
    for i, target_id in enumerate(record.supersedes):
        if target_id in cut_ids:
            continue
        field = f"supersedes[{i}]"
        target = ledger.by_id(target_id)
        if target is None:
            raise NotFoundError(f"{field}: memory {target_id} not found")
        if target.valid_until_us is not None:
            raise ConflictError(
                f"{field}: memory {target_id} was already superseded by {target.superseded_by}"
            )
        if target.valid_from_us > t:
            raise ValidationError(
                f"invalid {field}: memory {target_id} became valid after this memory's valid_from", field
            )
        cuts.append((target_id, t, record.id))
        cut_ids.add(target_id)
    for memory_id, until, by in cuts:
        ledger.cut(memory_id, until, by)
    return True


def as_version(record: MemoryRecord) -> Version:
    return Version(
        record.id,
        valid_from(record),
        record.valid_until_us,
        record.superseded_by,
        fingerprint(record.content, record.metadata_json),
    )


class BatchLedger:
    """A store's `FactLedger` plus the versions placed earlier in the same batch and not written yet, for stores
    that write a batch in one go (PostgreSQL's COPY, Arc's spool): a later version of the batch sees the earlier
    ones, and a cut of one of them changes the record before it is written."""

    def __init__(self, stored: FactLedger) -> None:
        self.stored = stored
        self.placed: dict[str, MemoryRecord] = {}

    def add(self, record: MemoryRecord) -> None:
        self.placed[record.id] = record

    def at(self, key: str, t: int) -> Version | None:
        best = self.stored.at(key, t)
        for r in self.placed.values():  # written after everything stored: they win ties
            if (
                r.fact_key == key
                and valid_from(r) <= t
                and (best is None or valid_from(r) >= best.valid_from_us)
            ):
                best = as_version(r)
        return best

    def after(self, key: str, t: int) -> Version | None:
        best = self.stored.after(key, t)
        for r in self.placed.values():
            if (
                r.fact_key == key
                and valid_from(r) > t
                and (best is None or valid_from(r) < best.valid_from_us)
            ):
                best = as_version(r)
        return best

    def by_id(self, memory_id: str) -> Version | None:
        placed = self.placed.get(memory_id)
        return as_version(placed) if placed is not None else self.stored.by_id(memory_id)

    def cut(self, memory_id: str, valid_until_us: int, superseded_by: str) -> None:
        placed = self.placed.get(memory_id)
        if placed is None:
            self.stored.cut(memory_id, valid_until_us, superseded_by)
        else:
            placed.valid_until_us, placed.superseded_by = valid_until_us, superseded_by


def needs_placement(record: MemoryRecord) -> bool:
    """True for a record the rule applies to (a keyed one, or one superseding others)."""
    return record.fact_key is not None or bool(record.supersedes)


__all__ = [
    "KEY_FORMAT",
    "KEY_PATTERN",
    "MAX_KEY_LENGTH",
    "MAX_SUPERSEDES",
    "BatchLedger",
    "FactLedger",
    "Version",
    "as_version",
    "check_key",
    "fingerprint",
    "key_prefix_bounds",
    "needs_placement",
    "place_version",
    "valid_from",
]
