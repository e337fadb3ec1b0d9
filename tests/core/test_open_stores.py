"""`open_stores`: which locations open which stores, and how a wrong one fails (naming the setting)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from memtrace import AddMemoryRequest, ListOptions, Memtrace, ValidationError
from memtrace.engine import Engine
from memtrace.stores import StoreBundle, open_stores


def count(stores: StoreBundle) -> int | None:
    return stores.stats().memories


def test_a_directory_a_db_file_and_sqlite_urls_open_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Memtrace.open(tmp_path / "dir") as mt:
        mt.remember("a", "in a directory")
    for location in (tmp_path / "dir", str(tmp_path / "dir"), f"sqlite:///{tmp_path}/dir"):
        stores = open_stores(location)
        assert count(stores) == 1, location
        stores.close()
    monkeypatch.chdir(tmp_path)
    relative = open_stores("sqlite:///rel")  # SQLAlchemy's convention: relative after three slashes
    assert (tmp_path / "rel" / "memtrace.db").is_file()
    relative.close()
    single = open_stores(tmp_path / "one.db")
    assert single.description.endswith("one.db") and (tmp_path / "one.db").is_file()
    single.close()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://db/memtrace", "unsupported store URL scheme 'mysql://'"),
        ("sqlite://host/x", "sqlite:///relative/path"),
        ("sqlite:///x?mode=ro", "sqlite:///relative/path"),
        ("  ", "give a directory"),
    ],
)
def test_wrong_locations_fail_naming_the_setting(url: str, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        open_stores(url, setting="store.url")
    assert err.value.field == "store.url" and says in err.value.message


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValidationError, match="is a file"):
        open_stores(tmp_path / "notes.txt", setting="path")


def test_postgresql_without_its_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if psycopg were not installed: the PostgreSQL store cannot be imported.
    monkeypatch.setitem(sys.modules, "memtrace.stores.postgres", None)
    with pytest.raises(ValidationError, match=r"install memtrace-core\[postgres\]") as err:
        open_stores("postgresql://localhost/memtrace", setting="store.url")
    assert err.value.field == "store.url"


def test_a_bundle_closes_once_and_a_wrapped_bundle_closes_both(tmp_path: Path) -> None:
    stores = open_stores(tmp_path)
    closed: list[str] = []

    class Wrapper:  # an event store in front of the bundle's (as the server's org routing is)
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def close(self) -> None:
            closed.append("wrapper")

    wrapped = stores.with_events(Wrapper(stores.events))  # type: ignore[arg-type]
    engine = Engine.from_stores(wrapped)
    engine.add_memory("org_a", AddMemoryRequest(agent_id="a", content="through the wrapper"))
    assert engine.stats().memories == 1
    engine.ping()
    engine.close()
    engine.close()
    assert closed == ["wrapper"]
    with pytest.raises(Exception):  # noqa: B017 - the SQLite connection is closed
        stores.metadata.ping()
    stores.close()  # already handed over: nothing happens
    with Memtrace.open(tmp_path) as mt:
        assert [m.content for m in mt.list_memories(ListOptions(agent_id="a")).memories] == []  # other org


def test_memtrace_open_expands_the_home_directory_in_a_path_or_a_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for location, made in ((Path("~/as-path"), "as-path"), ("~/as-text", "as-text")):
        with Memtrace.open(location) as mt:
            mt.remember("a", "at home")
        assert (tmp_path / made / "memtrace.db").is_file()
