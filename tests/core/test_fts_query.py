"""Any user text becomes a safe FTS5 expression: SQLite accepts it and it can only match keywords."""

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from memtrace.stores.sqlite.events import fts_query

_db = sqlite3.connect(":memory:")
_db.execute("CREATE VIRTUAL TABLE f USING fts5(content, tokenize='porter unicode61 remove_diacritics 2')")
_db.execute("INSERT INTO f(content) VALUES ('the user prefers dark mode'), ('deploy NEAR production')")


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_any_text_is_a_valid_match_expression(text: str) -> None:
    expr = fts_query(text)
    if expr is None:
        assert not any(ch.isalnum() for ch in text)
        return
    _db.execute("SELECT rowid FROM f WHERE f MATCH ?", (expr,)).fetchall()


def test_other_word_forms_match() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(content, tokenize='porter unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO f(content) VALUES ('deploy failed on staging'), ('lunch was pizza')")
    for query in ("deployment failure", "deploying", "failures"):
        assert db.execute("SELECT rowid FROM f WHERE f MATCH ?", (fts_query(query),)).fetchall() == [(1,)]


def test_operators_are_treated_as_words() -> None:
    assert fts_query('NEAR("x" y) OR content:z*') == '"near" OR "x" OR "y" OR "content" OR "conten"* OR "z"'
    assert fts_query("what does the user prefer") == '"user" OR "prefer" OR "pref"*'
    assert fts_query("deployment failures") == '"deployment" OR "deplo"* OR "failures" OR "fail"*'
    assert fts_query("the a of") == '"the" OR "a" OR "of"'
