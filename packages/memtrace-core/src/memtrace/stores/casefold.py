"""Unicode case folding (`str.casefold`) in SQL that has only ``lower()``: which characters need a ``replace``.

``content_contains`` matches by case folding in every store ("STRASSE" is in "straße"). A database whose
``lower()`` is not `str.casefold` gets the folding of the characters that can take part in a match as
``replace`` calls around ``lower(content)``: a character whose folding shares no character with the folded
needle can never be inside a match, folded or not, so it needs none.

Scanning all of Unicode takes seconds, so the tables come from the few 256-code-point blocks that hold every
such character (tests/core/test_casefold.py pins that against a full scan).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

Fold = tuple[str, str]

LOWER_FOLD_BLOCKS = (0x00, 0x01, 0x03, 0x05, 0x13, 0x1C, 0x1E, 0x1F, 0xAB, 0xFB)
ASCII_FOLD_BLOCKS = (0x00, 0x01, 0x1E, 0x21, 0xFB)


def _chars(blocks: Iterable[int]) -> Iterable[str]:
    for block in blocks:
        for code in range(block << 8, (block + 1) << 8):
            yield chr(code)


@functools.cache
def lower_folds() -> tuple[Fold, ...]:
    """Lower-case characters whose folding is not themselves ("ß" -> "ss", "ς" -> "σ"): what `str.casefold`
    adds to a Unicode-aware ``lower()`` (DuckDB's, Arc's)."""
    return tuple((c, c.casefold()) for c in _chars(LOWER_FOLD_BLOCKS) if c.lower() == c and c.casefold() != c)


@functools.cache
def ascii_folds() -> tuple[Fold, ...]:
    """Non-ASCII characters whose folding has an ASCII character ("ß" -> "ss", Kelvin "K" -> "k"): what an
    ASCII-only ``lower()`` (PostgreSQL's under the "C" collation) misses for an ASCII needle."""
    return tuple(
        (c, c.casefold())
        for c in _chars(ASCII_FOLD_BLOCKS)
        if not c.isascii() and c.casefold() != c and any(x.isascii() for x in c.casefold())
    )


def folds_touching(needle: str, folds: Iterable[Fold]) -> list[Fold]:
    """The folds that can matter when looking for `needle`: those sharing a character with its folding."""
    wanted = set(needle.casefold())
    return [(c, fold) for c, fold in folds if wanted.intersection(fold)]


__all__ = ["ascii_folds", "folds_touching", "lower_folds"]
