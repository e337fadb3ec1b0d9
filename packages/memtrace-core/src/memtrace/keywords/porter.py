"""The Porter stemmer (M.F. Porter, 1980), as SQLite's FTS5 ``porter`` tokenizer applies it.

Arc has no full-text index, so the Arc store keeps each memory's stemmed words in a column and ranks by them.
Using the same stemmer as the embedded store's FTS5 index means a query finds the same word forms on both
("deploying" finds "Deployed"). `tests/arc/test_search_terms.py` checks this module against FTS5 itself.

Like FTS5, words shorter than three or longer than 64 characters are left as they are.
"""

from __future__ import annotations

from functools import lru_cache

_VOWELS = frozenset("aeiou")
MIN_LENGTH = 3
MAX_LENGTH = 64


def _is_consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in _VOWELS:
        return False
    if ch == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """m in [C](VC)^m[V]: the number of vowel-consonant sequences."""
    m = 0
    i, n = 0, len(stem)
    while i < n and _is_consonant(stem, i):
        i += 1
    while i < n:
        while i < n and not _is_consonant(stem, i):
            i += 1
        if i >= n:
            break
        m += 1
        while i < n and _is_consonant(stem, i):
            i += 1
    return m


def _has_vowel(stem: str) -> bool:
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _ends_double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1)


def _ends_cvc(word: str) -> bool:
    """*o: ends consonant-vowel-consonant, the last not w, x or y."""
    n = len(word)
    if n < 3:
        return False
    return (
        _is_consonant(word, n - 1)
        and not _is_consonant(word, n - 2)
        and _is_consonant(word, n - 3)
        and word[-1] not in "wxy"
    )


def _replace(word: str, suffix: str, replacement: str, min_measure: int) -> str | None:
    """`word` with `suffix` replaced when the remaining stem's measure exceeds `min_measure`; None when `word`
    does not end with `suffix` (so the caller stops trying other suffixes either way once one matched)."""
    if not word.endswith(suffix):
        return None
    stem = word[: len(word) - len(suffix)]
    return stem + replacement if _measure(stem) > min_measure else word


def _step1ab(w: str) -> str:
    # The length guards are FTS5's: a word that is nothing but the suffix ("sses", "ies", "eed") is treated
    # by the shorter rules, exactly as SQLite does.
    if (w.endswith("sses") and len(w) > 4) or (w.endswith("ies") and len(w) > 3):
        w = w[:-2]
    elif w.endswith("ss"):
        pass
    elif w.endswith("s"):
        w = w[:-1]

    if w.endswith("eed") and len(w) > 3:
        if _measure(w[:-3]) > 0:
            w = w[:-1]
        return w
    for suffix in ("ed", "ing"):
        if w.endswith(suffix):
            stem = w[: -len(suffix)]
            if not _has_vowel(stem):
                return w
            w = stem
            if w.endswith(("at", "bl", "iz")):
                return w + "e"
            if _ends_double_consonant(w) and w[-1] not in "lsz":
                return w[:-1]
            if _measure(w) == 1 and _ends_cvc(w):
                return w + "e"
            return w
    return w


def _step1c(w: str) -> str:
    if w.endswith("y") and _has_vowel(w[:-1]):
        return w[:-1] + "i"
    return w


_STEP2 = (
    ("ational", "ate"),
    ("tional", "tion"),
    ("enci", "ence"),
    ("anci", "ance"),
    ("izer", "ize"),
    ("bli", "ble"),
    ("alli", "al"),
    ("entli", "ent"),
    ("eli", "e"),
    ("ousli", "ous"),
    ("ization", "ize"),
    ("ation", "ate"),
    ("ator", "ate"),
    ("alism", "al"),
    ("iveness", "ive"),
    ("fulness", "ful"),
    ("ousness", "ous"),
    ("aliti", "al"),
    ("iviti", "ive"),
    ("biliti", "ble"),
    ("logi", "log"),
)

_STEP3 = (
    ("icate", "ic"),
    ("ative", ""),
    ("alize", "al"),
    ("iciti", "ic"),
    ("ical", "ic"),
    ("ful", ""),
    ("ness", ""),
)

_STEP4 = (
    "al",
    "ance",
    "ence",
    "er",
    "ic",
    "able",
    "ible",
    "ant",
    "ement",
    "ment",
    "ent",
    "ion",
    "ou",
    "ism",
    "ate",
    "iti",
    "ous",
    "ive",
    "ize",
)


def _longest_match(w: str, rules: tuple[tuple[str, str], ...], min_measure: int) -> str:
    best: tuple[str, str] | None = None
    for suffix, replacement in rules:
        if w.endswith(suffix) and (best is None or len(suffix) > len(best[0])):
            best = (suffix, replacement)
    if best is None:
        return w
    replaced = _replace(w, best[0], best[1], min_measure)
    return w if replaced is None else replaced


def _step4(w: str) -> str:
    best = ""
    for suffix in _STEP4:
        if w.endswith(suffix) and len(suffix) > len(best):
            best = suffix
    if not best:
        return w
    stem = w[: -len(best)]
    if _measure(stem) <= 1:
        return w
    if best == "ion" and not stem.endswith(("s", "t")):
        return w
    return stem


def _step5(w: str) -> str:
    if w.endswith("e"):
        stem = w[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _ends_cvc(stem)):
            w = stem
    if w.endswith("ll") and _measure(w) > 1:
        w = w[:-1]
    return w


@lru_cache(maxsize=131_072)
def stem(word: str) -> str:
    """The Porter stem of a lower-case word (e.g. ``deployed`` -> ``deploi``)."""
    if not MIN_LENGTH <= len(word) <= MAX_LENGTH:
        return word
    w = _step1ab(word)
    w = _step1c(w)
    w = _longest_match(w, _STEP2, 0)
    w = _longest_match(w, _STEP3, 0)
    w = _step4(w)
    return _step5(w)


__all__ = ["stem"]
