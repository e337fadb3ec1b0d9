"""Which words of a query count, and the loose prefix that catches a word's other forms."""

from __future__ import annotations

import re

# A keyword: a run of letters/digits (any script). Everything else in a query is a separator, which is what
# makes any user text a safe FTS5 expression: each keyword is double-quoted, so no operator can be injected.
_KEYWORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_KEYWORDS = 32
# Words too common to say anything about relevance. Only the query drops them (the index keeps every word), and
# only when something else is left: a query of nothing but stop words still searches for them.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


_SUFFIXES = (
    "ations",
    "ation",
    "ments",
    "ment",
    "ings",
    "ing",
    "ures",
    "ure",
    "ions",
    "ion",
    "ness",
    "edly",
    "ed",
    "es",
    "ly",
    "er",
    "s",
)


def loose_prefix(word: str) -> str | None:
    """A prefix that catches the word's other forms where the porter stemmer does not: it stems "deployed" to
    ``deploi`` but "deployment" to ``deploy``, "failed" to ``fail`` but "failure" to ``failur``. Trim one common
    suffix, then one more letter, never below four letters."""
    if len(word) < 5 or not word.isalpha():
        return None
    stem = word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            stem = word[: -len(suffix)]
            break
    prefix = stem[: max(4, len(stem) - 1)]
    return prefix if prefix != word else None


def query_keywords(text: str) -> list[str]:
    """The keywords of a free-text query, lower-cased, first occurrence first, at most `MAX_QUERY_KEYWORDS`;
    stop words are dropped when any other word is left. Every store ranks by these."""
    words: list[str] = []
    seen = set()
    for w in _KEYWORD.findall(text.lower()):
        w = w.replace("_", " ").strip()
        if w and w not in seen:
            seen.add(w)
            words.append(w)
        if len(words) >= MAX_QUERY_KEYWORDS:
            break
    meaningful = [w for w in words if w not in STOP_WORDS]
    return meaningful or words
