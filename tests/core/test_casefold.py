"""The folding tables `content_contains` uses in SQL hold every character a scan of all of Unicode finds."""

from __future__ import annotations

import sys

from memtrace.stores.casefold import ascii_folds, folds_touching, lower_folds

EVERY_CHARACTER = [chr(c) for c in range(sys.maxunicode + 1)]


def test_lower_folds_are_every_lower_case_character_casefold_changes() -> None:
    assert lower_folds() == tuple(
        (c, c.casefold()) for c in EVERY_CHARACTER if c.lower() == c and c.casefold() != c
    )


def test_ascii_folds_are_every_non_ascii_character_folding_to_something_ascii() -> None:
    assert ascii_folds() == tuple(
        (c, c.casefold())
        for c in EVERY_CHARACTER
        if not c.isascii() and c.casefold() != c and any(x.isascii() for x in c.casefold())
    )


def test_only_folds_sharing_a_character_with_the_needle_are_used() -> None:
    assert ("ß", "ss") in folds_touching("STRASSE", ascii_folds())
    assert folds_touching("xyz", [("ß", "ss")]) == []
