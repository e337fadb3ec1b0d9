"""BM25 over ``search_terms``, computed the same way in SQL (rows in Arc) and in Python (rows in the spool).

The formula is FTS5's: for each query term, ``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))``
with ``idf = ln((N - df + 0.5) / (df + 0.5))``, floored at 1e-6. N, df and avgdl are taken over the memories
that pass the search's filters (FTS5 takes them over its whole table), from Arc and the spool together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6


@dataclass(frozen=True)
class CorpusStats:
    """How many memories pass the filters, their total word count, and per query term how many contain it."""

    documents: int
    total_terms: int
    document_frequency: tuple[int, ...]

    def __add__(self, other: CorpusStats) -> CorpusStats:
        return CorpusStats(
            self.documents + other.documents,
            self.total_terms + other.total_terms,
            tuple(a + b for a, b in zip(self.document_frequency, other.document_frequency, strict=True)),
        )


@dataclass(frozen=True)
class Weights:
    """What a score needs besides a row's own numbers: per term ``idf * (k1 + 1)``, and the length
    normalisation ``a + b * term_count`` split into its two constants."""

    term_weights: tuple[float, ...]
    a: float
    b: float


def weights(stats: CorpusStats) -> Weights | None:
    """None when no memory passes the filters (nothing to rank)."""
    if stats.documents <= 0:
        return None
    n = stats.documents
    avgdl = max(stats.total_terms / n, 1e-9)
    term_weights = []
    for df in stats.document_frequency:
        # Counters kept apart (a store's document count and its per-term counts) can disagree for a moment, e.g.
        # read at different instants; a count outside 0..n must cost a little precision, never the search.
        df = min(max(df, 0), n)
        idf = math.log((n - df + 0.5) / (df + 0.5))
        term_weights.append(max(idf, MIN_IDF) * (K1 + 1))
    return Weights(tuple(term_weights), K1 * (1 - B), K1 * B / avgdl)


def score(frequencies: Sequence[int], term_count: int, w: Weights) -> float:
    """A row's BM25 score, summed in term order exactly as the SQL expression does."""
    norm = w.a + w.b * term_count
    total = 0.0
    for weight, f in zip(w.term_weights, frequencies, strict=True):
        total = total + weight * f / (f + norm)
    return total


def union_estimate(documents: int, counts: Sequence[int]) -> int:
    """How many of `documents` hold at least one of several terms held by `counts` documents each, if the terms
    occurred independently; kept within what is certain (at least the largest count, at most their sum)."""
    if documents <= 0 or not counts:
        return 0
    missing = 1.0
    for c in counts:
        missing *= max(0.0, 1.0 - c / documents)
    estimate = round(documents * (1.0 - missing))
    return max(max(counts), min(estimate, sum(counts), documents))


def rounded(value: float) -> float:
    """Scores are reported to six decimals, like the embedded store's."""
    return round(value, 6)


__all__ = ["CorpusStats", "Weights", "rounded", "score", "union_estimate", "weights"]
