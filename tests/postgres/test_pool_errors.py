"""When no pooled connection comes, the 503's message says why: every connection busy (the pool is exhausted)
or the server unreachable (with PostgreSQL's reason). The pool waits the same way in both cases, so the store
must find out which it was. The server is never stopped: its database refuses connections instead."""

from __future__ import annotations

import pytest

from memtrace.stores.postgres import PoolOptions, PostgresUnavailableError, open_postgres_database
from memtrace.stores.postgres.database import CHECK_AFTER_IDLE_S

from .server import allow_connections, fresh_database_url, terminate_backends


def test_every_connection_busy_says_the_pool_is_exhausted(pg_url: str) -> None:
    db = open_postgres_database(pg_url, PoolOptions(min_size=1, max_size=1, checkout_timeout=0.3))
    try:
        with db.connection(), pytest.raises(PostgresUnavailableError) as info, db.connection():
            pass
    finally:
        db.close()
    message = info.value.message
    assert "pool exhausted" in message and "all 1 connections" in message, message
    assert "unreachable" not in message and info.value.retry_after


def test_a_database_refusing_connections_is_reported_unreachable_with_its_reason() -> None:
    with fresh_database_url() as url:
        db = open_postgres_database(url, PoolOptions(min_size=1, max_size=2, checkout_timeout=1.0))
        try:
            allow_connections(url, False)
            terminate_backends(url)  # the pool's idle connection goes too, as in a failover
            with pytest.raises(PostgresUnavailableError) as info, db.connection() as conn:
                conn.execute("SELECT 1")
        finally:
            allow_connections(url, True)
            db.close()
    message = info.value.message
    assert "unreachable" in message and "is not currently accepting connections" in message, message
    assert "exhausted" not in message and info.value.status_code == 503 and info.value.retry_after


def test_a_connection_cut_while_idle_is_replaced_on_checkout_not_reported() -> None:
    """Connections idle longer than CHECK_AFTER_IDLE_S are pinged on checkout, so one the server dropped
    meanwhile (a failover, a proxy's idle timeout) is replaced before the caller's statement runs."""
    import time

    with fresh_database_url() as url:
        db = open_postgres_database(url, PoolOptions(min_size=1, max_size=1))
        try:
            with db.connection() as conn:
                before = conn.info.backend_pid
            assert terminate_backends(url) == 1
            time.sleep(CHECK_AFTER_IDLE_S + 0.2)
            with db.connection() as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
                assert conn.info.backend_pid != before
        finally:
            db.close()
