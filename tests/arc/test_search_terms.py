"""Keyword search on Arc stems words exactly as the embedded store's FTS5 index does, and ranks the way the
SQL does."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memtrace.keywords import loose_prefix, stem
from memtrace.stores.arc.ranking import CorpusStats, score, weights
from memtrace.stores.arc.terms import query_terms, search_terms, term_frequency


@pytest.fixture(scope="module")
def fts5() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter ascii')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    return conn


def fts5_stem(conn: sqlite3.Connection, word: str) -> str:
    conn.execute("DELETE FROM t")
    conn.execute("INSERT INTO t VALUES (?)", (word,))
    return conn.execute("SELECT term FROM v").fetchone()[0]


ENGLISH = [
    "caresses",
    "ponies",
    "ties",
    "caress",
    "cats",
    "feed",
    "agreed",
    "plastered",
    "bled",
    "motoring",
    "sing",
    "conflated",
    "troubled",
    "sized",
    "hopping",
    "tanned",
    "falling",
    "hissing",
    "fizzed",
    "failing",
    "filing",
    "happy",
    "sky",
    "relational",
    "conditional",
    "rational",
    "valenci",
    "hesitanci",
    "digitizer",
    "conformabli",
    "radicalli",
    "differentli",
    "vileli",
    "analogousli",
    "vietnamization",
    "predication",
    "operator",
    "feudalism",
    "decisiveness",
    "hopefulness",
    "callousness",
    "formaliti",
    "sensitiviti",
    "sensibiliti",
    "triplicate",
    "formative",
    "formalize",
    "electriciti",
    "electrical",
    "hopeful",
    "goodness",
    "revival",
    "allowance",
    "inference",
    "airliner",
    "gyroscopic",
    "adjustable",
    "defensible",
    "irritant",
    "replacement",
    "adjustment",
    "dependent",
    "adoption",
    "homologou",
    "communism",
    "activate",
    "angulariti",
    "homologous",
    "effective",
    "bowdlerize",
    "probate",
    "rate",
    "cease",
    "controll",
    "roll",
    "generalizations",
    "oscillators",
    "deployed",
    "deploying",
]


@pytest.mark.parametrize("word", ENGLISH)
def test_stems_match_fts5_on_english_words(fts5: sqlite3.Connection, word: str) -> None:
    assert stem(word) == fts5_stem(fts5, word)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=14))
def test_stems_match_fts5_on_any_ascii_word(fts5: sqlite3.Connection, word: str) -> None:
    assert stem(word) == fts5_stem(fts5, word)


def test_search_terms_are_stemmed_folded_and_space_wrapped() -> None:
    text, count = search_terms("Deployed the Café's NEW billing_service, twice: deployed!")
    assert text == " deploi  the  cafe  s  new  bill  servic  twice  deploi "
    assert count == 9
    assert search_terms("!!! ---") == ("", 0)


def test_query_terms_find_word_forms_phrases_and_skip_stop_words() -> None:
    patterns = [t.pattern for t in query_terms("What does the deploying of sure_thing do?")]
    assert patterns == [" deploi ", " deplo", " sure  thing "]
    text, _ = search_terms("Deployed it: a sure thing, deployed twice")
    freqs = [term_frequency(text, t) for t in query_terms("deploying sure_thing")]
    assert freqs == [2, 2, 1]
    assert query_terms("the") and query_terms("   ") == []


def test_scores_prefer_rarer_words_and_more_occurrences() -> None:
    stats = CorpusStats(documents=10, total_terms=60, document_frequency=(1, 8))
    w = weights(stats)
    assert w is not None
    rare, common = score([1, 0], 6, w), score([0, 1], 6, w)
    assert rare > common > 0
    assert score([2, 0], 6, w) > rare
    assert score([1, 0], 3, w) > score([1, 0], 12, w)  # shorter memories rank higher for the same match
    assert weights(CorpusStats(0, 0, (0,))) is None


WITH_PREFIX = [w for w in [*ENGLISH, "customers", "deployment", "failures", "migrating"] if loose_prefix(w)]


@pytest.mark.parametrize("word", WITH_PREFIX)
def test_loose_prefixes_are_stemmed_as_fts5_stems_a_prefix_query(fts5: sqlite3.Connection, word: str) -> None:
    """FTS5 runs a prefix query's text through the porter stemmer ("custome"* looks for ``custom``...), so the
    Arc store's prefix term must be that stem, or its matches and scores differ from the embedded store's."""
    prefix = loose_prefix(word)
    assert prefix is not None
    patterns = [t.pattern for t in query_terms(word)]
    assert " " + fts5_stem(fts5, prefix) in patterns


def test_weights_survive_term_counts_outside_the_corpus() -> None:
    """A term count above the document count (statistics read a moment apart) still ranks, as a very common
    term; it used to raise a math domain error and fail the search."""
    w = weights(CorpusStats(documents=3, total_terms=18, document_frequency=(5, -1, 1)))
    assert w is not None
    common, _, rare = w.term_weights
    assert 0 < common < rare
