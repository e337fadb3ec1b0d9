"""Search hits with the query's words marked: the content is escaped first, then ``<mark>`` goes around whole
escaped words, so no part of the stored text is ever read as markup."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from memtrace.keywords import loose_prefix, normalize, query_keywords, stem

# Words as the search indexes split them: runs of letters or digits in any script.
_WORD = re.compile(r"([^\W_]+)")


def _matchers(query: str) -> tuple[set[str], tuple[str, ...]]:
    """The stems and loose prefixes a word of the content is matched against (what every store matches: see
    `memtrace.keywords`)."""
    stems: set[str] = set()
    prefixes: list[str] = []
    for keyword in query_keywords(query):
        for part in keyword.split():
            stems.add(stem(normalize(part)))
        prefix = loose_prefix(keyword)
        if prefix:
            prefixes.append(normalize(prefix))
    return stems, tuple(prefixes)


def highlight(text: str, query: str | None) -> Markup:
    """`text` escaped, with the words `query` matches wrapped in ``<mark>``."""
    if not query:
        return escape(text)
    stems, prefixes = _matchers(query)
    if not stems and not prefixes:
        return escape(text)
    out: list[str] = []
    for i, piece in enumerate(_WORD.split(text)):
        safe = str(escape(piece))
        if i % 2 == 1:  # a word
            word = normalize(piece)
            if stem(word) in stems or (prefixes and word.startswith(prefixes)):
                safe = f"<mark>{safe}</mark>"
        out.append(safe)
    return Markup("".join(out))
