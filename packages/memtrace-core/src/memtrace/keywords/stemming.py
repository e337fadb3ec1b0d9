"""Words as the stores index them: lower-cased, without diacritics, Porter-stemmed.

SQLite gets this from FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer; stores without such an index
(Arc, PostgreSQL) compute it here, in Python, so all stores stem alike.
"""

from __future__ import annotations

import re
import unicodedata

from .porter import stem

# A token is a run of letters or digits in any script; "_" separates, as in FTS5's unicode61 tokenizer.
_TOKEN = re.compile(r"[^\W_]+")


def normalize(text: str) -> str:
    """Lower-case, without diacritics (FTS5's ``remove_diacritics 2``)."""
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_STEMS: dict[str, str] = {}
_STEM_CACHE_LIMIT = 200_000


# ASCII text, the common case, is split in C: a byte table lower-cases letters and turns everything but
# letters and digits into spaces.
_ASCII_WORDS = bytes(ord(chr(c).lower()) if c < 128 and chr(c).isalnum() else ord(" ") for c in range(256))


def _words(text: str) -> list[str]:
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    return _TOKEN.findall(normalize(text))


def tokens(text: str) -> list[str]:
    """The stemmed words of `text`, in order."""
    words = _words(text)
    stems = _STEMS
    try:
        # A dict lookup per word is the fast path: vocabularies repeat, so nearly every word is cached.
        return list(map(stems.__getitem__, words))
    except KeyError:
        if len(stems) > _STEM_CACHE_LIMIT:
            stems.clear()
        # Look each word up once: another thread may clear the shared cache between two lookups.
        out = []
        for w in words:
            s = stems.get(w)
            if s is None:
                s = stems[w] = stem(w)
            out.append(s)
        return out
