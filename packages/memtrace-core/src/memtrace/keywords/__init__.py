"""memtrace's keyword language, the same for every store (SQLite, Arc, PostgreSQL).

The contract a store's ranked search keeps:

- A query's keywords are `query_keywords(text)`: runs of letters and digits in any script, lower-cased, first
  occurrence first, at most `MAX_QUERY_KEYWORDS`; `STOP_WORDS` are dropped when any other word is left. A
  keyword with ``_`` (``sure_thing``) is a phrase of its parts.
- A memory matches a keyword when its content has the keyword's stem (`stem`, Porter, on words lower-cased and
  without diacritics: `tokens`) or starts a word with the keyword's `loose_prefix` (which catches the forms the
  stemmer keeps apart: "deployed"/"deployment").
- Memories with *any* keyword match; those with *every* keyword rank first; within a tier, BM25 over the org's own
  memories (never another tenant's statistics), ties to the newer memory.

SQLite's FTS5 index implements the stemming with its ``porter unicode61 remove_diacritics 2`` tokenizer; Arc and
PostgreSQL compute `tokens` here when they write.
"""

from .query import MAX_QUERY_KEYWORDS, STOP_WORDS, loose_prefix, query_keywords
from .stemming import normalize, stem, tokens

__all__ = [
    "MAX_QUERY_KEYWORDS",
    "STOP_WORDS",
    "loose_prefix",
    "normalize",
    "query_keywords",
    "stem",
    "tokens",
]
