"""`PostgresDatabase`: one connection pool to a PostgreSQL database, shared by the event and metadata stores.

Driver settings, each for a reason:

- ``psycopg_pool.ConnectionPool`` with explicit ``min_size``/``max_size`` (``max_size=None`` would silently mean
  "fixed at min_size") and a check on checkout of every connection that sat idle longer than
  `CHECK_AFTER_IDLE_S`, so a connection the server or a proxy dropped while idle is replaced instead of failing
  the caller's statement. One used within the last second is not pinged: the ping is a round trip, a third of
  a single write's (a connection cut in that second fails its statement with a 503, as one cut mid-statement
  does).
- TCP keepalives, so a dead peer (failover, a vanished NAT entry) is noticed in about a minute rather than hours.
- ``prepare_threshold=None``: no server-side prepared statements, which PgBouncer in transaction mode cannot
  route. No pipeline mode either: it has bitten other projects on shared pooled connections.
- ``autocommit=True``: a read is one statement and needs no transaction; every write opens one explicitly
  (`transaction`), commits before the caller hears success (invariant 1) and rolls back on any exception.

Every read goes to the one database the URL names (the primary), so a caller always sees its own acknowledged
writes (invariant 4).
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import ServiceUnavailableError

CHECK_AFTER_IDLE_S = 1.0
"""A pooled connection idle longer than this is pinged before it is handed out."""
PROBE_TIMEOUT_S = 3.0
"""How long the direct connection attempt that explains a checkout timeout may take."""


class PostgresUnavailableError(ServiceUnavailableError):
    """PostgreSQL cannot be reached or refused the connection. The message names the server (never a password)
    and PostgreSQL's own reason."""


@dataclass(frozen=True)
class PoolOptions:
    """Connection pool sizes and timeouts (seconds)."""

    min_size: int = 1
    max_size: int = 8
    connect_timeout: float = 10.0
    """How long opening the store waits for the first connection before it gives up with a clear error."""
    checkout_timeout: float = 30.0
    """How long a statement waits for a free pooled connection before `PostgresUnavailableError`."""
    max_idle: float = 300.0
    keepalives_idle: int = 30


def describe_url(url: str) -> str:
    """``host:port/database`` of a libpq URL, without user or password: safe in logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    return f"postgresql://{host}:{port}{parts.path or '/'}"


def connection_kwargs(options: PoolOptions) -> dict[str, Any]:
    """What every connection is opened with (see the module docstring)."""
    return {
        "autocommit": True,
        "prepare_threshold": None,
        "connect_timeout": max(1, round(options.connect_timeout)),
        "keepalives": 1,
        "keepalives_idle": options.keepalives_idle,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "application_name": "memtrace",
    }


def connect(url: str, options: PoolOptions | None = None) -> psycopg.Connection[Any]:
    """One dedicated connection (migrations, leader locks), outside the pool; a clear error if refused."""
    options = options or PoolOptions()
    try:
        return psycopg.connect(url, **connection_kwargs(options))
    except psycopg.OperationalError as exc:
        raise PostgresUnavailableError(
            f"cannot connect to PostgreSQL at {describe_url(url)}: {str(exc).strip()}", retry_after=1.0
        ) from exc


def fetch_in_transaction(
    conn: psycopg.Connection[Any], settings: str, sql: str, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of `sql`, run in a read-only transaction of its own with `settings` (``SET LOCAL`` statements,
    literal SQL) on a connection in autocommit mode, all in one message and so one round trip: ``BEGIN``, the
    settings, `sql`, ``COMMIT``. `conn.transaction()` would send ``BEGIN``, each setting and ``COMMIT`` as round
    trips of their own, at about a millisecond each on a busy machine: a ranked search spent more there than in
    its index scans. The parameters are bound by psycopg on the client (`psycopg.ClientCursor`: quoted as
    literals), as several statements in one message require; the connection setting that forbids server-side
    prepared statements (PgBouncer) is unaffected."""
    # Inside a caller's transaction, the BEGIN would be ignored and the COMMIT would end the caller's transaction.
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("fetch_in_transaction needs a connection outside any transaction")
    cur = psycopg.ClientCursor(conn)
    try:
        cur.execute(f"BEGIN READ ONLY; {settings}; {sql}; COMMIT", params)
    except BaseException:
        # The statements after a failed one were not run: the transaction is still open, and aborted.
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        raise
    while cur.pgresult is not None and cur.pgresult.status != psycopg.pq.ExecStatus.TUPLES_OK:
        if not cur.nextset():
            raise AssertionError("no rows result")  # sql is a query: it has one
    return cur.fetchall()


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name` (the single-bigint key space; dedup locks use the
    two-int4 space, which never overlaps it)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class PostgresDatabase:
    """A connection pool to one PostgreSQL database (whose schema the caller has migrated)."""

    def __init__(self, url: str, options: PoolOptions | None = None) -> None:
        self.url = url
        self.options = options = options or PoolOptions()
        self.description = describe_url(url)
        self._returned: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self._returned_lock = threading.Lock()
        self.pool = ConnectionPool(
            url,
            min_size=options.min_size,
            max_size=options.max_size,
            kwargs=connection_kwargs(options),
            check=self._check,
            # No `reset` callback: with one, the pool hands every returned connection to its worker thread, and
            # the caller's next statement waited for that thread to run (a thread switch per statement, a
            # scheduling delay on a busy machine: a session context's three statements waited three times).
            timeout=options.checkout_timeout,
            max_idle=options.max_idle,
            name="memtrace",
            open=False,
        )
        self.pool.open(wait=False)
        try:
            self.pool.wait(timeout=options.connect_timeout)
        except PoolTimeout as exc:
            self.pool.close()
            # The pool swallows the driver's reason; one direct attempt reports it.
            connect(url, options).close()
            raise PostgresUnavailableError(
                f"cannot connect to PostgreSQL at {self.description} within {options.connect_timeout:g}s",
                retry_after=1.0,
            ) from exc

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's checkout check: ping a connection that was idle for a while (raises if it is dead)."""
        with self._returned_lock:
            returned = self._returned.get(conn)
        if returned is None or time.monotonic() - returned > CHECK_AFTER_IDLE_S:
            ConnectionPool.check_connection(conn)

    def _note_return(self, conn: psycopg.Connection[Any]) -> None:
        with self._returned_lock:
            self._returned[conn] = time.monotonic()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in autocommit mode, for reads."""
        try:
            with self.pool.connection() as conn:
                try:
                    yield conn
                finally:
                    self._note_return(conn)  # when it goes back to the pool (`_check`)
        except PoolTimeout as exc:
            raise self._checkout_failure() from exc
        except psycopg.OperationalError as exc:
            raise PostgresUnavailableError(
                f"PostgreSQL at {self.description} failed: {str(exc).strip()}", retry_after=1.0
            ) from exc

    def _checkout_failure(self) -> PostgresUnavailableError:
        """Why no pooled connection came within the checkout timeout, said plainly: the pool waits the same way
        whether every connection is busy or the server cannot be reached (it keeps reconnecting in the
        background and swallows the reason), so one direct, short connection attempt tells the two apart."""
        waited = f"{self.options.checkout_timeout:g}s"
        options = replace(self.options, connect_timeout=min(self.options.connect_timeout, PROBE_TIMEOUT_S))
        try:
            connect(self.url, options).close()
        except PostgresUnavailableError as down:
            return PostgresUnavailableError(
                f"PostgreSQL at {self.description} is unreachable (no connection for {waited}): "
                f"{str(down.__cause__ or down).strip()}",
                retry_after=1.0,
            )
        return PostgresUnavailableError(
            f"connection pool exhausted: all {self.options.max_size} connections to PostgreSQL at "
            f"{self.description} stayed busy for {waited} (the server is up; raise the pool's max_size or "
            "lower the load)",
            retry_after=1.0,
        )

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction: committed when the block ends, rolled back on error."""
        with self.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def leader_lock(self, name: str) -> Iterator[bool]:
        """Try to become the one holder of `name` across every process on this database (e.g. the replica that
        runs a background job): yields True while held, False if another session holds it. The lock lives on a
        dedicated session and ends with the block, or when this process dies (PostgreSQL drops the session)."""
        conn = connect(self.url, self.options)
        try:
            key = lock_key("memtrace.leader." + name)
            got = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])  # type: ignore[index]
            try:
                yield got
            finally:
                if got and not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        finally:
            conn.close()

    def close(self) -> None:
        self.pool.close()


__all__ = [
    "PoolOptions",
    "PostgresDatabase",
    "PostgresUnavailableError",
    "connect",
    "describe_url",
    "fetch_in_transaction",
    "lock_key",
]
