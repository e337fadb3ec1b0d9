"""The PostgreSQL server the tests use, and a fresh database for this test session.

The server comes from ``MEMTRACE_TEST_POSTGRES_URL`` (default: the local one, trust auth). The first test that
needs it creates a database named ``memtrace_test_<random>``; it is dropped when the session ends. Each store a
test opens gets its own schema in that database (`fresh_schema_url`), so tests never see each other's rows.

When no PostgreSQL answers, tests that need it are skipped with the reason, except under ``CI=true``, where
they fail: a CI run must not pass by skipping the PostgreSQL store.
"""

from __future__ import annotations

import atexit
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg
import pytest

URL_VARIABLE = "MEMTRACE_TEST_POSTGRES_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

_session_url: str | None = None
_unavailable: str | None = None


def server_url() -> str:
    return os.environ.get(URL_VARIABLE) or DEFAULT_URL


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def session_database_url() -> str:
    """The URL of this session's test database (created on first use), or skip/fail if there is no server."""
    global _session_url, _unavailable
    if _session_url is not None:
        return _session_url
    if _unavailable is None:
        name = "memtrace_test_" + secrets.token_hex(6)
        try:
            with _admin(server_url()) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # generated name
        except psycopg.Error as exc:
            _unavailable = (
                f"NO POSTGRESQL: cannot reach {urlsplit(server_url()).hostname}:{urlsplit(server_url()).port} "
                f"({str(exc).strip()[:200]}); set {URL_VARIABLE} to run the PostgreSQL store tests"
            )
        else:
            _session_url = with_database(server_url(), name)
            atexit.register(_drop, name)
            return _session_url
    if os.environ.get("CI") == "true":
        pytest.fail(_unavailable, pytrace=False)
    pytest.skip(_unavailable)


def _drop(name: str) -> None:
    try:
        with _admin(server_url()) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
    except psycopg.Error:
        pass


def schema_url(url: str, schema: str) -> str:
    """`url` with every connection's search_path set to `schema`."""
    parts = urlsplit(url)
    query = urlencode({"options": f"-csearch_path={schema}"})
    return urlunsplit(parts._replace(query=query))


@contextmanager
def fresh_schema_url() -> Iterator[str]:
    """A URL whose connections work in a new, empty schema of the session database (dropped afterwards)."""
    base = session_database_url()
    schema = "t_" + secrets.token_hex(6)
    with _admin(base) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]  # generated name
    try:
        yield schema_url(base, schema)
    finally:
        with _admin(base) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


@contextmanager
def fresh_database_url() -> Iterator[str]:
    """A URL to a new, empty database of its own (dropped afterwards), for tests of what is database-wide:
    advisory locks (leader election, migrations) and connection refusal."""
    session_database_url()  # skip or fail loudly when there is no server
    name = "memtrace_test_" + secrets.token_hex(6)
    with _admin(server_url()) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # generated name
    try:
        yield with_database(server_url(), name)
    finally:
        _drop(name)


def terminate_backends(url: str) -> int:
    """Cut every connection to `url`'s database (as a failover or an operator's pg_terminate_backend would);
    the number cut."""
    database = urlsplit(url).path.lstrip("/")
    with _admin(server_url()) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


def allow_connections(url: str, allowed: bool) -> None:
    """Make `url`'s database refuse new connections (``allowed=False``) or take them again."""
    database = urlsplit(url).path.lstrip("/")
    with _admin(server_url()) as conn:
        conn.execute(
            f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {"true" if allowed else "false"}'  # type: ignore[arg-type]
        )
